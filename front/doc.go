// Package front is the front listener (flow step 1): it accepts, peeks at
// the first bytes under a deadline to tell SOCKS from HTTP, and hands the
// connection, with nothing consumed, to the protocol's Handler together
// with the bytes it saw (so the HTTP front end need not peek again). On a
// TLS listener it first runs the TLS handshake (first byte 0x16) and
// sniffs inside (tls.go). It also counts connections, refuses those over
// the limit, and drains on shutdown. The plumbing (accept loop, peek,
// lingering close, tracking and drain) is internal/netx's.
package front
