package test

// Revalidation through the real binary: what a client gets when the
// origin cannot be reached for a response that must be revalidated, when
// the client's own preconditions are at stake, and when an origin answers
// 304 to a request that had no condition.

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const cacheConfig = minimalConfig + `
[cache]
enabled = true
`

// TestCacheMustRevalidateUnreachable: a stale response with
// must-revalidate whose origin refuses connections is a 504 (RFC 9111
// §5.2.2.2), with a Proxy-Status that says why, and so is the access line.
func TestCacheMustRevalidateUnreachable(t *testing.T) {
	for _, cc := range []string{"max-age=0, must-revalidate", "max-age=0, proxy-revalidate", "s-maxage=0", "no-cache"} {
		t.Run(cc, func(t *testing.T) {
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", cc)
				w.Header().Set("ETag", `"v1"`)
				io.WriteString(w, "v1")
			}))
			url := origin.URL + "/mr"
			f := startFerry(t, cacheConfig)
			if h, status, _ := cacheCurl(t, f.Addr, url); status != 200 || !strings.HasSuffix(h.Get("Cache-Status"), "stored") {
				t.Fatalf("first: %d, Cache-Status %q", status, h.Get("Cache-Status"))
			}
			origin.Close() // refused from now on
			h, status, _ := cacheCurl(t, f.Addr, url)
			ps := h.Get("Proxy-Status")
			if status != 504 || !strings.Contains(ps, "error=connection_refused") || !strings.Contains(ps, "revalidat") {
				t.Errorf("origin down: %d, Proxy-Status %q; want 504, connection_refused, and why", status, ps)
			}
			ev := f.WaitEvents("access", nil, 2)[1]
			if ev.Int("status") != 504 || ev.Str("proxy_status") != "connection_refused" || ev.Str("err") == "" || !strings.HasPrefix(ev.Str("cache"), "fwd=stale") {
				t.Errorf("logged status %v proxy_status %q err %q cache %q", ev["status"], ev.Str("proxy_status"), ev.Str("err"), ev.Str("cache"))
			}
		})
	}
}

// TestCacheRevalidationKeepsPreconditions: a client's If-Match and
// If-Unmodified-Since reach the origin when ferry revalidates, so the
// client gets the origin's 412, and the stored response is kept.
func TestCacheRevalidationKeepsPreconditions(t *testing.T) {
	const lastMod = "Mon, 01 Jun 2026 10:00:00 GMT"
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		im, ius := r.Header.Get("If-Match"), r.Header.Get("If-Unmodified-Since")
		if im != "" && im != `"v1"` || ius != "" && ius != lastMod {
			w.WriteHeader(http.StatusPreconditionFailed)
			return
		}
		w.Header().Set("Cache-Control", "max-age=0")
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", lastMod)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "v1")
	}))
	t.Cleanup(origin.Close)
	url := origin.URL + "/pre"
	f := startFerry(t, cacheConfig)
	cacheCurl(t, f.Addr, url)
	n := 1
	for _, pre := range []string{`If-Match: "v0"`, "If-Unmodified-Since: Sun, 31 May 2026 10:00:00 GMT"} {
		h, status, _ := cacheCurl(t, f.Addr, "-H", pre, url)
		if status != 412 {
			t.Errorf("%s: %d, Cache-Status %q; want the origin's 412", pre, status, h.Get("Cache-Status"))
		}
		n++
	}
	// Preconditions that hold: the origin's 304 to ferry's own condition
	// serves the stored response.
	h, status, body := cacheCurl(t, f.Addr, "-H", `If-Match: "v1"`, url)
	if status != 200 || body != "v1" || !strings.Contains(h.Get("Cache-Status"), "fwd-status=304") {
		t.Errorf(`If-Match "v1": %d %q, Cache-Status %q; want the stored 200 after a 304`, status, body, h.Get("Cache-Status"))
	}
	f.WaitEvents("access", nil, n+1)
}

// TestCache304WithoutCondition: an origin's 304 to a request without
// If-None-Match or If-Modified-Since answers nothing the client has: 502.
func TestCache304WithoutCondition(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.WriteHeader(http.StatusNotModified)
	}))
	t.Cleanup(origin.Close)
	for _, config := range []string{minimalConfig, cacheConfig} {
		f := startFerry(t, config)
		h, status, _ := cacheCurl(t, f.Addr, origin.URL+"/nm")
		if status != 502 || !strings.Contains(h.Get("Proxy-Status"), "http_protocol_error") {
			t.Errorf("cache %v: %d, Proxy-Status %q; want 502 http_protocol_error", config == cacheConfig, status, h.Get("Proxy-Status"))
		}
		// A client's own condition may get the 304.
		_, status, _ = cacheCurl(t, f.Addr, "-H", `If-None-Match: "v1"`, origin.URL+"/nm")
		if status != 304 {
			t.Errorf("cache %v: conditional: %d, want 304", config == cacheConfig, status)
		}
		ev := f.WaitEvents("access", nil, 2)[0]
		if ev.Int("status") != 502 || ev.Str("proxy_status") != "http_protocol_error" {
			t.Errorf("logged %v %q", ev["status"], ev.Str("proxy_status"))
		}
		f.Stop()
	}
}
