package cache

import (
	"net/http"
	"time"
)

// heuristicCap bounds a heuristic freshness lifetime. RFC 9111 §4.2.2
// suggests 10% of the time since Last-Modified and sets no ceiling; a file
// untouched for ten years would otherwise be fresh for a year.
const heuristicCap = 24 * time.Hour

// heuristicallyCacheable are the status codes RFC 9110 §15.1 lets a cache
// store and give a heuristic lifetime without explicit freshness.
var heuristicallyCacheable = map[int]bool{
	200: true, 203: true, 204: true, 206: true, 300: true, 301: true, 308: true,
	404: true, 405: true, 410: true, 414: true, 501: true,
}

// understood are the final status codes whose semantics ferry's cache
// knows, for must-understand (§5.2.2.3): the heuristic ones (206 among
// them: ferry stores and combines ranges, §3.3, §3.4) and the other
// redirects.
func understood(code int) bool {
	return heuristicallyCacheable[code] || code == 302 || code == 303 || code == 307
}

// storable decides whether a shared cache may store resp, the answer to
// req (RFC 9111 §3, with §3.5 for Authorization). It returns "" when it
// may, or why not.
func storable(req *http.Request, reqCC Directives, resp *http.Response, cc Directives) string {
	switch {
	case req.Method != http.MethodGet:
		// HEAD is answered from a stored GET; its own responses are not kept.
		return "method"
	case resp.StatusCode < 200 || resp.StatusCode == http.StatusNotModified,
		// A 412 answers a request's preconditions, never a request
		// without them.
		resp.StatusCode == http.StatusPreconditionFailed,
		resp.StatusCode == http.StatusPartialContent && !has(req.Header, "Range"):
		return "status"
	case cc.MustUnderstand && !understood(resp.StatusCode):
		return "must-understand"
	case cc.NoStore && !(cc.MustUnderstand && understood(resp.StatusCode)):
		return "no-store"
	case reqCC.NoStore:
		return "request no-store"
	case cc.Private:
		return "private"
	// Presence, not the first value, decides below: an empty first line
	// must not hide a real second one.
	case has(req.Header, "Authorization") && !cc.Public && !cc.MustRevalidate && cc.SMaxAge < 0:
		return "authorization"
	case has(req.Header, "Range") && resp.StatusCode != http.StatusPartialContent:
		// A 200 to a Range request is passed on unstored.
		return "range"
	case len(resp.Trailer) > 0 || has(resp.Header, "Trailer"):
		return "trailer"
	case (has(resp.Header, setCookie) || has(resp.Header, setCookie2)) && !cc.Public && cc.SMaxAge < 0:
		// RFC 9111 would allow it, but a response that sets a cookie is
		// often made for that one client; storing is never required
		// (§3), so it takes an explicit public or s-maxage, and the
		// cookie itself is never stored (see unstored).
		return "set-cookie"
	}
	if _, matchable := varyFields(resp.Header); !matchable {
		// Vary: * never matches a later request (§4.1): storing it is
		// waste; so is a list past maxVaryFields.
		return "vary"
	}
	if !cc.Public && cc.MaxAge < 0 && cc.SMaxAge < 0 && !has(resp.Header, "Expires") &&
		!heuristicallyCacheable[resp.StatusCode] {
		return "no freshness"
	}
	return ""
}

// has reports whether h has any line of the canonical field name.
func has(h http.Header, name string) bool { return len(h[name]) > 0 }

// freshnessLifetime is §4.2.1 for a shared cache: s-maxage, then max-age,
// then Expires minus Date, then a heuristic (§4.2.2).
func freshnessLifetime(h http.Header, cc Directives, status int, date time.Time) time.Duration {
	switch {
	case cc.SMaxAge >= 0:
		return seconds(cc.SMaxAge)
	case cc.MaxAge >= 0:
		return seconds(cc.MaxAge)
	}
	if ev, ok := h["Expires"]; ok {
		exp, ok := parseHTTPDate(ev[0], date)
		if !ok || len(ev) > 1 {
			// An invalid Expires, "0" above all, means already expired
			// (§5.3); so do two Expires lines that might disagree.
			return 0
		}
		return max(0, exp.Sub(date))
	}
	if !heuristicallyCacheable[status] && !cc.Public {
		return 0
	}
	lm, ok := parseHTTPDate(h.Get("Last-Modified"), date)
	if !ok || !lm.Before(date) {
		return 0
	}
	return min(date.Sub(lm)/10, heuristicCap)
}

// initialAge is corrected_initial_age of §4.2.3: the larger of the age the
// clocks imply and the Age the response carried plus its time in transit.
func initialAge(h http.Header, date, reqTime, respTime time.Time) time.Duration {
	apparent := max(0, respTime.Sub(date))
	age, _ := ageValue(h["Age"])
	delay := max(0, respTime.Sub(reqTime))
	return max(apparent, seconds(age)+delay)
}

// dateOf is the Date of a stored response; one without a valid Date was
// given the time it arrived when it was stored (RFC 9110 §6.6.1).
func dateOf(h http.Header, respTime time.Time) time.Time {
	if d, ok := parseHTTPDate(h.Get("Date"), respTime); ok {
		return d
	}
	return respTime
}

func seconds(n int64) time.Duration { return time.Duration(n) * time.Second }

// wholeSeconds is d in the delta-seconds of an Age or ttl, rounded down.
func wholeSeconds(d time.Duration) int64 { return int64(d / time.Second) }
