// Package cache is ferry's shared HTTP cache (RFC 9111) for plain-HTTP
// forward requests: flow step 4, after the ACL has allowed a request and
// before anything is dialed. A hit is answered without a dial; a miss or
// a revalidation goes on through the transport the cache wraps, so the
// engine's dial (and its ACL on addresses) sees it.
//
// What it does, by RFC 9111 section: storing only what a shared cache may
// (§3, §3.1, §3.5), header updates (§3.2), partial content stored,
// joined and served to Range requests (§3.3, §3.4, RFC 9110 §14),
// freshness and Age (§4.2), serving stale only where allowed (§4.2.4,
// with RFC 5861's stale-while-revalidate and stale-if-error), Vary and
// secondary keys (§4.1), validation, the 304 and HEAD updates (§4.3),
// invalidation after unsafe methods (§4.4), request and response
// directives (§5.2), and the Cache-Status header of RFC 9211. Concurrent
// misses of one URI share one origin fetch. README.md's Cache section
// lists what is done and what is not.
//
// Storage is a memory LRU and an optional disk store, each with a byte
// budget. Disk entries are written to a temp file, fsynced and renamed, and
// carry checksums: a torn or corrupt entry is dropped, never served.
// Bodies stream to the client while they are stored.
//
// It imports only the standard library.
package cache
