// Package reverse is ferry's reverse mode: listeners that clients reach as
// if ferry were the service. A TCP listener sends every connection to its
// route; a TLS listener peeks at the ClientHello (nothing is consumed, so a
// passthrough connection stays a *net.TCPConn and the relay can splice) and
// routes by server name. Each route has a Pool of backends with a balancing
// policy and health checks. The peek, the accept loop and the drain are
// internal/netx's, shared with the forward proxy's front mux.
//
// Flow: accept → guards (PROXY header from trusted balancers, source CIDRs,
// connection caps) → peek SNI / port → Table route → Pool.Pick → the same
// tunnel.Engine as forward mode (Authorize, Dial) → tunnel.Start (the
// relay's own goroutines, which park when idle) →
// accesslog.Record.Finish: one rule set, one log schema.
package reverse
