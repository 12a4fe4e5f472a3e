// Package acl turns policy rules into verdicts (flow steps 3 and 5): rules
// compiled once from the [acl] table, walked in order, first match wins,
// allocation-free per decision. The engine asks it once with the target
// name (before DNS) and again with every address it is about to dial, so
// a name cannot smuggle a denied address. Besides the rules it holds the
// block-list loader (LoadList, the only I/O here) and the label-suffix
// DomainSet the lists load into, and Explain for ferry explain.
package acl
