// Package admin is ferry's admin listener: /healthz, /readyz, /metrics,
// /debug/pprof/ and /proxy.pac on an address of its own, never the proxy
// port. It is outside the request flow; cmd/ferry starts it beside the
// front listeners and flips its readiness on start and drain.
package admin
