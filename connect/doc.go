// Package connect is the HTTP front end (flow step 2 for HTTP): CONNECT
// tunnels (RFC 9110 §9.3.6) and absolute-form plain-HTTP requests,
// forwarded with keep-alive on both sides. It parses with net/http's server
// and forwards with httputil.ReverseProxy over a pooled Transport whose
// dials go through the tunnel engine, so the ACL and the access log are
// the same as for SOCKS.
package connect
