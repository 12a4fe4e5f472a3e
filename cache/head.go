package cache

import (
	"net/http"
	"strconv"
)

// head forwards a HEAD that the stored GET o cannot answer alone (o is
// stale, or the request asks for validation) and, when the origin answers
// 200, freshens o from it (§4.3.5): the client then gets o as updated, so
// fields the origin left out of its HEAD answer are kept.
func (t *Transport) head(req *http.Request, reqCC Directives, o *object, fwd string) (*http.Response, error) {
	resp, ex, err := t.roundTrip(req)
	if err != nil || serverError(resp.StatusCode) {
		if detail := t.Cache.staleOnError(req, reqCC, o, resp, err); detail != "" {
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
	status := "fwd=" + fwd + "; fwd-status=" + strconv.Itoa(resp.StatusCode)
	if resp.StatusCode == http.StatusOK {
		if n := t.Cache.freshen(req, reqCC, o, resp, ex); n != nil {
			if r := t.serve(req, n, o, status); r != nil {
				resp.Body.Close()
				// Its cookies are this client's own, never the entry's.
				addCookies(r.Header, resp.Header)
				return r, nil
			}
		}
	}
	resp.Header.Add("Cache-Status", t.member(status))
	t.report(req, status)
	return resp, nil
}

// freshen is §4.3.5 for o, the stored GET a HEAD selected, and resp, the
// origin's 200 to that HEAD. If every validator resp carries (ETag,
// Last-Modified) has o's value, and its Content-Length (if any) is o's
// length, o is updated from resp's header as a 304 would update it, and
// the update is returned. Otherwise o describes another representation:
// the RFC's "consider it stale" is done by removing it, so the next GET
// fetches the new one.
func (c *Cache) freshen(req *http.Request, reqCC Directives, o *object, resp *http.Response, ex exchange) *object {
	h := resp.Header
	same := true
	if etag := h.Get("ETag"); etag != "" {
		same = etag == o.Header.Get("ETag")
	}
	if lm := h.Get("Last-Modified"); lm != "" && same {
		same = sameDate(lm, o.Header.Get("Last-Modified"), o.RespTime)
	}
	if cl := h.Get("Content-Length"); cl != "" && same {
		n, err := strconv.ParseInt(cl, 10, 64)
		same = err == nil && n == o.size
	}
	if !same || o.Status != http.StatusOK {
		c.removeVariant(o.id)
		return nil
	}
	n, stored := c.update(req, reqCC, o, resp, ex)
	if !stored {
		// A changed Vary, or the HEAD made the response unstorable.
		c.removeVariant(o.id)
	}
	return n
}
