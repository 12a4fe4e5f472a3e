// Package http1 is HTTP/1.1 message syntax and framing (RFC 9112), strict
// where the RFC says a recipient MUST reject, for both directions of the
// proxy: the HTTP front end reads requests with it (connect) and the
// plain-HTTP forwarder reads origin responses with it (connect/forward).
// One reading of a message's length for both, so that ferry and the hops
// on either side never disagree on where a message ends (RFC 9112 §11.2,
// request smuggling; §11.1, response splitting).
//
// It reads heads (ReadHead), decides a body's framing (RequestFraming,
// ResponseFraming) and reads and writes bodies (Body, ChunkedWriter),
// every read bounded. It imports the standard library and x/net only.
package http1
