// Package acl turns policy rules into verdicts. It does no I/O: the engine
// asks it once with the target name (before DNS) and again with every
// address it is about to dial, so a name cannot smuggle a denied address.
package acl
