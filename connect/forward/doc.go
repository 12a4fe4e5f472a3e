// Package forward is ferry's plain-HTTP forwarding (flow steps 4 and 5 for
// plain HTTP): an absolute-form request that a front end has authenticated
// and authorized is routed by the engine, rewritten as a proxy must (RFC
// 9110 §7.6: hop-by-hop fields, Via, Forwarded), answered by the shared
// cache when it may be (the cache is an http.RoundTripper in front of the
// Client), and otherwise sent by the Client, the one outbound path: to the
// origin directly, in absolute form through an HTTP(S) upstream, or
// through a SOCKS upstream, with the same pooling and retry rules for all
// (client.go, exchange.go, pool.go). Responses are read with
// internal/http1's framing; one with any framing doubt never leaves its
// conn pooled. A 101 is handed back to the front end, which relays the two
// conns with the engine.
//
// It knows nothing of the front end's protocol: it reads an *http.Request
// and writes an http.ResponseWriter.
package forward
