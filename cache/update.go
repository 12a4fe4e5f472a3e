package cache

import (
	"errors"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"
)

// update freshens o with the header of resp, a 304 to a validation
// (§4.3.4) or a 200 to a HEAD (§4.3.5): resp's fields replace the stored
// ones as §3.2 says (see mergeHeader); request and response times become
// resp's. It returns nil if resp does not select o: §4.3.4's validator
// rules (see selects), or a changed Vary.
//
// The updated response must pass the storage rules of a fresh one (§3):
// when it does not (resp said private or no-store, say), n is returned
// for this request only and stored is false; the stores keep o untouched
// and the caller removes it.
func (c *Cache) update(req *http.Request, reqCC Directives, o *object, resp *http.Response, ex exchange) (n *object, stored bool) {
	if !selects(resp.Header, o) {
		return nil, false
	}
	if _, ok := resp.Header["Vary"]; ok {
		if fields, matchable := varyFields(resp.Header); !matchable || !slices.Equal(fields, o.varyOn) {
			return nil, false
		}
	}
	m := o.meta
	m.Header, m.ReqTime, m.RespTime = mergeHeader(o.Header, resp.Header), ex.reqTime, ex.respTime
	if ex.addr.IsValid() {
		m.Addr = ex.addr
	}
	n = newObject(m, o.size, o.body)
	// The rules are those of a GET for the whole response: a HEAD's own
	// response is never stored, nor a 200 to a Range request, but here
	// either only updates the stored GET.
	get := *req
	get.Method = http.MethodGet
	if has(req.Header, "Range") {
		get.Header = req.Header.Clone()
		get.Header.Del("Range")
	}
	merged := &http.Response{StatusCode: m.Status, Header: m.Header, ContentLength: o.size}
	if storable(&get, reqCC, merged, n.cc) != "" {
		n.transient = true
		return n, false
	}
	c.replace(o, n)
	return n, true
}

// replace stores n, an update of o's header, in o's place.
func (c *Cache) replace(o, n *object) {
	if c.disk != nil {
		if _, sum, err := encodeHead(&n.meta); err == nil {
			n.metaCRC = sum
		}
	}
	if c.mem != nil && o.body != nil {
		c.mem.replace(o, n)
	}
	if c.disk != nil {
		c.background(func() {
			if err := c.disk.rewrite(o, n); err != nil && !errors.Is(err, fs.ErrNotExist) {
				c.warn("update", err)
			}
		})
	}
}

// selects is §4.3.4's choice of the stored response a 304 updates, for
// the one stored response o a validation asked about. A strong entity tag
// selects only o with the same one ("MUST NOT" update any other); a weak
// one selects o if they match weakly; a Last-Modified selects o only if
// o has the same. A 304 with no validator at all answers the conditional
// request ferry made from o's own validators, so it selects o.
func selects(h http.Header, o *object) bool {
	if etag := h.Get("ETag"); etag != "" {
		stored := o.Header.Get("ETag")
		if !strings.HasPrefix(etag, "W/") {
			return etag == stored
		}
		if !etagListMatch([]string{stored}, etag) {
			return false
		}
	}
	if lm := h.Get("Last-Modified"); lm != "" {
		return sameDate(lm, o.Header.Get("Last-Modified"), o.RespTime)
	}
	return true
}

// sameDate compares two HTTP-dates as times, or as text if either is
// not a valid date.
func sameDate(a, b string, ref time.Time) bool {
	ta, okA := parseHTTPDate(a, ref)
	tb, okB := parseHTTPDate(b, ref)
	if okA && okB {
		return ta.Equal(tb)
	}
	return a == b
}

// mergeHeader is §3.2: every field of the newer header fresh replaces the
// stored one's lines, except
//   - the fields §3.1 keeps out of any stored header (hop-by-hop,
//     Connection-listed, Proxy-*: storedHeader drops them),
//   - Content-Length, which describes the stored body, not fresh's,
//   - Content-Range, "automatically processed" (§3.2): ferry's own
//     record of which bytes a stored partial response holds.
//
// Set-Cookie and Set-Cookie2 are among the fields storedHeader drops: one
// client's cookie in a shared entry would be served to every later
// client as a hit (#20 item 1).
//
// The stored Age goes in any case: kept, it would be counted again on top
// of the new request and response times; fresh's own Age replaces it.
func mergeHeader(stored, fresh http.Header) http.Header {
	h := stored.Clone()
	h.Del("Age")
	for k, vs := range storedHeader(fresh) {
		switch k {
		case "Content-Length", "Content-Range":
		default:
			h[k] = vs
		}
	}
	return h
}
