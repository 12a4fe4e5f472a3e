// Package proxyhdr reads the PROXY protocol header (v1 and v2, haproxy's
// proxy-protocol.txt) that a trusted balancer sends ahead of a client's
// bytes, so that ferry sees the client's address and not the balancer's.
// Both kinds of listener use it: the forward listeners (front) and the
// reverse ones (reverse). It reads exactly the header and nothing after
// it, from bytes peeked first (internal/netx), so a *net.TCPConn stays
// one and the relay still splices it.
package proxyhdr
