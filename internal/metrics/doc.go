// Package metrics is ferry's Prometheus instrumentation, on a registry of
// its own (never the global one). Request metrics are derived from the
// access log: every request or tunnel ends in exactly one
// accesslog.Record.Finish (flow step 7), and Metrics is an accesslog.Sink
// tee'd beside the log, so a counter and a log line cannot disagree.
// Connections are counted by a front.Observer (flow step 1). Health of
// upstreams and reverse backends comes from functions their owners
// register (SetUpstreams, SetBackends), read at each scrape.
//
// Labels are bounded by the config: listener, proto, outcome (the RFC
// 9209 error types of tunnel/status.go), ACL rule names, cache results,
// upstream and backend names. A destination host or a client address is
// never a label.
package metrics
