// Package connect is the HTTP/1 front end (flow step 2 for HTTP): CONNECT
// tunnels (RFC 9110 §9.3.6) and absolute-form plain-HTTP requests, with
// keep-alive, on plaintext and TLS listeners.
//
// A connection's first request is peeked (fast.go; in the socket, with
// internal/netx), or scanned in the bytes the front mux's sniff already
// peeked and hands over: a CONNECT is read and tunneled from the raw
// socket, so the relay splices. Every other request,
// the first or a later one, is read by ferry's own HTTP/1 reader
// (reader.go over internal/http1), strict as RFC 9112 asks, and answered
// by its own response writer (response.go); a head it cannot serve gets
// ferry's answer with Proxy-Status and an access line. conn.go runs a
// connection's requests one after the other; serve.go dispatches one:
// CONNECT to a tunnel (connect.go), absolute-form to the plain-HTTP
// forwarder (connect/forward) after authentication and the ACL, anything
// else to ferry's own pages (self.go, pages.go). Refusals take their
// status from the engine's error kinds (reply.go) and, for 403, the block
// page (blockpage.go).
package connect
