package accesslog

import "strings"

// Outcomes besides the RFC 9209 error types.
const (
	OutcomeOK         = "ok"
	OutcomeAuthFailed = "auth_failed"
)

// Outcome says how the request ended, in a small fixed set fit for a
// metric label: OutcomeOK (served, whatever the origin answered);
// OutcomeAuthFailed (credentials missing or wrong); otherwise the RFC 9209
// error type ferry answered with (http_request_denied, dns_error, ...), a
// set bounded by tunnel/status.go.
func (r *Record) Outcome() string {
	switch {
	case r.ProxyStatus != "":
		return r.ProxyStatus
	case r.authFailed():
		return OutcomeAuthFailed
	}
	return OutcomeOK
}

// Denied reports whether the ACL refused the request.
func (r *Record) Denied() bool {
	return r.ProxyStatus == "http_request_denied" || r.ProxyStatus == "destination_ip_prohibited"
}

// authFailed: every refusal ferry writes carries a Proxy-Status error type
// except an authentication failure (tunnel/status.go), which shows as HTTP
// 407, SOCKS4 reply 93, or any failed SOCKS5 exchange (RFC 1929 status or
// a reply) with no error type.
func (r *Record) authFailed() bool {
	switch r.Proto {
	case "socks4":
		return r.Status == 93
	case "socks5":
		return r.Status != 0
	case "tcp", "tls":
		return false
	}
	return r.Status == 407
}

// Cache results: what the cache did for a plain-HTTP request.
const (
	CacheNone        = ""            // the cache was not asked (off, or not plain HTTP)
	CacheHit         = "hit"         // served from store
	CacheRevalidated = "revalidated" // stored response confirmed by the origin (304) and served
	CacheRefreshed   = "refreshed"   // stored response was stale; the origin sent a new one
	CacheStale       = "stale"       // stored response served stale: the origin failed or was unreachable (RFC 5861 stale-if-error)
	CacheMiss        = "miss"        // nothing usable stored; fetched from the origin
	CacheBypass      = "bypass"      // not cacheable (method, range, upgrade)
	CacheOther       = "other"       // anything else (PURGE, only-if-cached refusal)
)

// CacheResult classifies the record's Cache field, the cache's
// Cache-Status parameters (RFC 9211 §2: "hit; ttl=…" or "fwd=…;
// fwd-status=…"), into one of the Cache results.
func (r *Record) CacheResult() string {
	c := r.Cache
	if c == "" {
		return CacheNone
	}
	first, rest, _ := strings.Cut(c, ";")
	switch strings.TrimSpace(first) {
	case "hit":
		return CacheHit
	case "fwd=uri-miss", "fwd=vary-miss", "fwd=miss", "fwd=request", "fwd=partial":
		return CacheMiss
	case "fwd=stale":
		switch {
		case strings.Contains(rest, "detail=stale-if-error"), strings.Contains(rest, "detail=origin-unreachable"):
			return CacheStale
		case strings.Contains(rest, "fwd-status=304"):
			return CacheRevalidated
		}
		return CacheRefreshed
	case "fwd=bypass", "fwd=method":
		return CacheBypass
	}
	return CacheOther
}
