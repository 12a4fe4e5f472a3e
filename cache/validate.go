package cache

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// conditionals are the client's request fields a revalidation replaces
// with the stored response's own validators (§4.3.1). If-Match and
// If-Unmodified-Since are not: a cache does not evaluate them (§4.3.2),
// they go on with the cache's own validators, and as the origin evaluates
// them first (RFC 9110 §13.2.2) the client gets the 412 it would send.
var conditionals = []string{"If-None-Match", "If-Modified-Since", "If-Range"}

// originPreconditions reports whether req has If-Match or
// If-Unmodified-Since, which only the origin may evaluate (§4.3.2): such
// a request is never answered from store alone, nor shares another's
// fetch; ferry revalidates, so a stored response serves it only once the
// origin has judged them.
func originPreconditions(req *http.Request) bool {
	return has(req.Header, "If-Match") || has(req.Header, "If-Unmodified-Since")
}

// revalidate asks the origin whether o is still good (§4.3.1) and answers
// from o updated by a 304 (§4.3.4), or with the full response it sent
// instead (§4.3.3).
func (t *Transport) revalidate(req *http.Request, reqCC Directives, o *object, fwd string) (*http.Response, error) {
	c := t.Cache
	cond := req.Clone(req.Context())
	for _, h := range conditionals {
		if h == "If-Range" && has(req.Header, "Range") {
			// The client's condition on its range stays for the origin
			// to judge should o have changed: a range of another
			// representation must not reach it.
			continue
		}
		cond.Header.Del(h)
	}
	if etag := o.Header.Get("ETag"); etag != "" {
		cond.Header.Set("If-None-Match", etag)
	}
	if lm := o.Header.Get("Last-Modified"); lm != "" {
		cond.Header.Set("If-Modified-Since", lm)
	}
	resp, ex, err := t.roundTrip(cond)
	if err != nil || serverError(resp.StatusCode) {
		// §4.3.3: a failure may be answered with o, where §4.2.4 and
		// RFC 5861 allow serving it stale.
		if detail := c.staleOnError(req, reqCC, o, resp, err); detail != "" {
			if r := t.serveStale(req, o, resp, detail); r != nil {
				return r, nil
			}
		}
	}
	if err != nil {
		if r := t.unreachable(req, o, err, fwd); r != nil {
			return r, nil
		}
		t.report(req, "fwd="+fwd)
		return nil, err
	}
	if resp.StatusCode == http.StatusNotModified {
		resp.Body.Close()
		if n, stored := c.update(req, reqCC, o, resp, ex); n != nil {
			if background(req) {
				// o is freshened; there is no client to answer.
				if !stored {
					c.removeVariant(o.id)
				}
				resp.Body = http.NoBody
				return resp, nil
			}
			r := t.serve(req, n, o, "fwd="+fwd+"; fwd-status=304")
			if !stored {
				// The 304 made the response one a shared cache may not
				// keep (private, no-store, ...): this client gets it, and
				// the old entry must not outlive what the origin said.
				c.removeVariant(o.id)
			}
			if r != nil {
				// The 304's cookies are this client's own: they reach
				// its answer, never the stored entry (see unstored).
				addCookies(r.Header, resp.Header)
				return r, nil
			}
		}
		// The 304 is for another representation, or the body is gone:
		// ask again without conditions.
		return t.fetch(req, reqCC, fwd, nil)
	}
	if resp.StatusCode < 500 && resp.StatusCode != http.StatusPreconditionFailed {
		// A new full response replaces o (§4.3.3); if it is not stored
		// itself, o must not outlive it. A 412 is the client's
		// precondition failing, not a new response.
		c.removeVariant(o.id)
	}
	t.admit(req, reqCC, resp, ex, "fwd="+fwd)
	return resp, nil
}

func (c *Cache) removeVariant(id string) {
	if c.disk != nil {
		c.disk.remove(id)
	}
	if c.mem != nil {
		c.mem.remove(id)
	}
}

// invalidateAfter is §4.4: a non-error response to an unsafe request
// invalidates the target URI, and Location and Content-Location when they
// name the same origin (never another host's entries).
func (c *Cache) invalidateAfter(target *url.URL, h http.Header) {
	c.invalidate(target)
	for _, f := range []string{"Location", "Content-Location"} {
		v := h.Get(f)
		if v == "" {
			continue
		}
		u, err := target.Parse(v)
		if err != nil || normalURI(&url.URL{Scheme: u.Scheme, Host: u.Host}) !=
			normalURI(&url.URL{Scheme: target.Scheme, Host: target.Host}) {
			continue
		}
		c.invalidate(u)
	}
}

// notModified evaluates the client's own conditionals against o (§4.3.2,
// RFC 9110 §13.2.2): If-None-Match by weak comparison, else
// If-Modified-Since against Last-Modified (or Date). They are ignored
// for a stored response that is no 2xx (RFC 9110 §13.2.1): a 304 would
// tell a client to keep its copy of what is now a 404.
func notModified(req *http.Request, o *object) bool {
	if o.Status < 200 || o.Status > 299 {
		return false
	}
	if inm := req.Header.Values("If-None-Match"); len(inm) > 0 {
		etag := o.Header.Get("ETag")
		return etag != "" && etagListMatch(inm, etag)
	}
	ims, ok := parseHTTPDate(req.Header.Get("If-Modified-Since"), o.RespTime)
	if !ok {
		return false
	}
	lm, ok := parseHTTPDate(o.Header.Get("Last-Modified"), o.RespTime)
	if !ok {
		lm = dateOf(o.Header, o.RespTime)
	}
	return !lm.After(ims)
}

// etagListMatch is the weak comparison of etag against a list of entity
// tags or "*" (RFC 9110 §8.8.3.2, §13.1.2).
func etagListMatch(lines []string, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for _, line := range lines {
		s := line
		for {
			s = strings.TrimLeft(s, " \t,")
			if s == "" {
				break
			}
			if s[0] == '*' {
				return true
			}
			s = strings.TrimPrefix(s, "W/")
			if s == "" || s[0] != '"' {
				break // malformed: stop reading this line
			}
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				break
			}
			if s[:end+2] == want {
				return true
			}
			s = s[end+2:]
		}
	}
	return false
}

// notModifiedFields are what a 304 carries of the stored header (RFC 9110
// §15.4.5), Last-Modified added as it guides cache updates.
// Canonical forms, as keys of an http.Header.
var notModifiedFields = []string{"Cache-Control", "Content-Location", "Date", "Etag", "Expires", "Vary", "Last-Modified"}

func (t *Transport) respondNotModified(req *http.Request, o *object, status string) *http.Response {
	h := http.Header{}
	for _, f := range notModifiedFields {
		if v, ok := o.Header[f]; ok {
			h[f] = v
		}
	}
	h.Set("Age", strconv.FormatInt(min(wholeSeconds(o.age(t.Cache.now())), maxDelta), 10))
	h.Add("Cache-Status", t.member(status))
	t.report(req, status)
	return &http.Response{
		Status:     "304 Not Modified",
		StatusCode: http.StatusNotModified,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  h,
		Body:    http.NoBody,
		Request: req,
	}
}

// notCached is the 504 of only-if-cached when nothing stored may be used
// (§5.2.1.7); the origin is not contacted.
func (t *Transport) notCached(req *http.Request) *http.Response {
	const body = "ferry: only-if-cached, and no stored response can be used without the origin\n"
	return t.gatewayTimeout(req, body, "detail=only-if-cached")
}

// gatewayTimeout is a 504 of the cache's own, with a plain-text body and
// its Cache-Status, reported as status.
func (t *Transport) gatewayTimeout(req *http.Request, body, status string) *http.Response {
	h := http.Header{
		"Content-Type":   {"text/plain; charset=utf-8"},
		"Cache-Control":  {"no-store"},
		"Content-Length": {strconv.Itoa(len(body))},
		"Cache-Status":   {t.member(status)},
	}
	t.report(req, status)
	return &http.Response{
		Status:     "504 Gateway Timeout",
		StatusCode: http.StatusGatewayTimeout,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        h,
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
