// Command ferry is an explicit forward proxy: HTTP CONNECT, plain HTTP and
// SOCKS4/4a/5 on one port, with an ACL, upstream chaining, a shared HTTP
// cache and a reverse mode. See README.md and docs/architecture.md.
//
// This package is the wiring: flags and subcommands (main.go,
// subcommands.go: check, explain, hash-password), the config loaded and
// turned into the policy the engine runs (policy.go), the app that binds
// the listeners and starts the front ends (wire.go, tls.go, reverse.go),
// operations (ops.go: logs, metrics, the admin port, PAC, sd_notify),
// signals (HUP reload, USR1 reopen, TERM drain) and the open-file budget
// (fds.go).
package main
