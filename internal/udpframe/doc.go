// Package udpframe holds the framings a datagram travels in between ferry
// and its peers, as pure functions over byte slices: the SOCKS5 UDP
// request header (RFC 1928 §7), spoken by the SOCKS front end to its
// clients and by the engine to SOCKS5 upstreams; and the HTTP Datagram
// capsule (RFC 9297 §3.5) with the CONNECT-UDP target path (RFC 9298),
// spoken by the HTTP front end to its clients and by the engine to HTTP
// upstreams. Nothing here does I/O; every parser is bounded by its input.
package udpframe
