package test

// End-to-end tests of the HTTP cache through the real binary, driven with
// curl.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// cacheCurl fetches url through the proxy with curl and returns the
// response head (status line and fields) and the body.
func cacheCurl(t *testing.T, proxy string, args ...string) (http.Header, int, string) {
	t.Helper()
	dir := t.TempDir()
	head, body := filepath.Join(dir, "head"), filepath.Join(dir, "body")
	curl(t, append([]string{"-x", "http://" + proxy, "-D", head, "-o", body}, args...)...)
	raw, _ := os.ReadFile(head)
	b, _ := os.ReadFile(body)
	h := http.Header{}
	status := 0
	for i, line := range strings.Split(strings.TrimSpace(string(raw)), "\r\n") {
		if i == 0 {
			fmt.Sscanf(line, "HTTP/%s %d", new(string), &status)
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			h.Add(k, strings.TrimSpace(v))
		}
	}
	return h, status, string(b)
}

// TestCacheE2E runs the binary with a disk cache and drives it with curl:
// a miss then a hit with Cache-Status visible, the access log's cache
// field, a restart that keeps the disk store, and PURGE.
func TestCacheE2E(t *testing.T) {
	var mu sync.Mutex
	hits := 0
	body := strings.Repeat("0123456789abcdef", 640) // 10 KiB
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("ETag", `"pkg-1"`)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(origin.Close)
	originHits := func() int {
		mu.Lock()
		defer mu.Unlock()
		return hits
	}
	url := origin.URL + "/pool/pkg_1.0.deb"
	config := fmt.Sprintf(minimalConfig+`
[cache]
enabled = true
disk_dir = %q

# PURGE needs a rule for it (the default verdict never allows it).
[[acl.rule]]
name = "purgers"
action = "allow"
method = ["PURGE"]
client = ["127.0.0.1"]
`, t.TempDir())

	f := startFerry(t, config)
	h, status, got := cacheCurl(t, f.Addr, url)
	if status != 200 || got != body || h.Get("Cache-Status") != "ferry; fwd=uri-miss; fwd-status=200; stored" {
		t.Fatalf("first: %d, %d bytes, Cache-Status %q", status, len(got), h.Get("Cache-Status"))
	}
	if ev := f.WaitEvents("access", nil, 1)[0]; ev["cache"] != "fwd=uri-miss; fwd-status=200; stored" || ev["dialed"] == "" {
		t.Errorf("first logged cache=%v dialed=%v", ev["cache"], ev["dialed"])
	}
	h, status, got = cacheCurl(t, f.Addr, url)
	if status != 200 || got != body || !strings.HasPrefix(h.Get("Cache-Status"), "ferry; hit; ttl=") || h.Get("Age") == "" {
		t.Fatalf("second: %d, %d bytes, Cache-Status %q, Age %q", status, len(got), h.Get("Cache-Status"), h.Get("Age"))
	}
	if ev := f.WaitEvents("access", nil, 2)[1]; !strings.HasPrefix(ev["cache"].(string), "hit; ttl=") || ev["dialed"] != "" {
		t.Errorf("second logged cache=%v dialed=%v, want a hit with nothing dialed", ev["cache"], ev["dialed"])
	}
	// A client's own validator gets a 304 from the cache.
	h, status, _ = cacheCurl(t, f.Addr, "-H", `If-None-Match: "pkg-1"`, url)
	if status != 304 || !strings.HasPrefix(h.Get("Cache-Status"), "ferry; hit") {
		t.Errorf("conditional: %d, Cache-Status %q", status, h.Get("Cache-Status"))
	}
	f.WaitEvents("access", nil, 3)

	// A restart keeps the disk store.
	{
		f.Stop()
		f = startFerry(t, config)
		h, status, got := cacheCurl(t, f.Addr, url)
		if status != 200 || got != body || !strings.HasPrefix(h.Get("Cache-Status"), "ferry; hit") {
			t.Fatalf("after restart: %d, %d bytes, Cache-Status %q", status, len(got), h.Get("Cache-Status"))
		}
		f.WaitEvents("access", nil, 1)
		if n := originHits(); n != 1 {
			t.Errorf("origin saw %d requests, want 1", n)
		}
	}

	// PURGE, allowed by the purgers rule, removes the entry.
	{
		_, status, _ := cacheCurl(t, f.Addr, "-X", "PURGE", url)
		if status != 200 {
			t.Fatalf("PURGE: %d", status)
		}
		if ev := f.WaitEvents("access", nil, 2)[1]; ev["method"] != "PURGE" || ev["cache"] != "purged=1" || ev["rule"] != "purgers" {
			t.Errorf("PURGE logged method=%v cache=%v rule=%v", ev["method"], ev["cache"], ev["rule"])
		}
		h, _, _ := cacheCurl(t, f.Addr, url)
		if h.Get("Cache-Status") != "ferry; fwd=uri-miss; fwd-status=200; stored" {
			t.Errorf("after PURGE: Cache-Status %q", h.Get("Cache-Status"))
		}
		f.WaitEvents("access", nil, 3)
		if n := originHits(); n != 2 {
			t.Errorf("origin saw %d requests, want 2", n)
		}
	}
}

// TestPurgeNeedsRule: with the ACL of config.toml.example (loopback
// clients allowed everything by one rule) and no rule for method PURGE, a
// PURGE from loopback is refused with 403 and the entry stays.
func TestPurgeNeedsRule(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		fmt.Fprint(w, "kept")
	}))
	t.Cleanup(origin.Close)
	f := startFerry(t, `
[[listener]]
address = "127.0.0.1:0"

[acl]
default = "deny"

[[acl.rule]]
name = "allow-local-clients"
action = "allow"
client = ["127.0.0.0/8", "::1"]

[cache]
enabled = true
`)
	url := origin.URL + "/kept"
	if _, status, _ := cacheCurl(t, f.Addr, url); status != 200 {
		t.Fatalf("GET: %d", status)
	}
	h, status, _ := cacheCurl(t, f.Addr, "-X", "PURGE", url)
	if status != http.StatusForbidden || !strings.HasPrefix(h.Get("Proxy-Status"), "ferry; error=http_request_denied") {
		t.Errorf("PURGE without a rule for it: %d, Proxy-Status %q; want 403 http_request_denied", status, h.Get("Proxy-Status"))
	}
	if ev := f.WaitEvents("access", nil, 2)[1]; ev["method"] != "PURGE" || ev["status"] != float64(403) || ev["decision"] != "deny" {
		t.Errorf("refused PURGE logged %v", ev)
	}
	if h, _, _ := cacheCurl(t, f.Addr, url); !strings.HasPrefix(h.Get("Cache-Status"), "ferry; hit") {
		t.Errorf("after a refused PURGE: Cache-Status %q, want a hit", h.Get("Cache-Status"))
	}
}

// TestCache304CookieStaysWithItsClient is RFC 9111 §3.2 through the real
// binary: a stored response revalidated by a 304 that sets a cookie is
// served to the next client as a hit, without that cookie.
func TestCache304CookieStaysWithItsClient(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.Header().Set("Cache-Control", "max-age=3600")
			w.Header().Set("Set-Cookie", "sid="+r.Header.Get("X-User"))
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Cache-Control", "max-age=0")
		fmt.Fprint(w, "page")
	}))
	t.Cleanup(origin.Close)
	f := startFerry(t, minimalConfig+"\n[cache]\nenabled = true\n")
	url := origin.URL + "/account"

	if h, status, _ := cacheCurl(t, f.Addr, url); status != 200 || !strings.HasSuffix(h.Get("Cache-Status"), "; stored") {
		t.Fatalf("first: %d, Cache-Status %q", status, h.Get("Cache-Status"))
	}
	h, status, body := cacheCurl(t, f.Addr, "-H", "X-User: alice", url)
	if status != 200 || body != "page" || h.Get("Set-Cookie") != "sid=alice" {
		t.Fatalf("alice's revalidation: %d %q, Set-Cookie %q", status, body, h.Get("Set-Cookie"))
	}
	h, status, body = cacheCurl(t, f.Addr, "-H", "X-User: bob", url)
	if status != 200 || body != "page" || !strings.HasPrefix(h.Get("Cache-Status"), "ferry; hit") {
		t.Fatalf("bob: %d %q, Cache-Status %q, want a hit", status, body, h.Get("Cache-Status"))
	}
	if c := h.Values("Set-Cookie"); len(c) != 0 {
		t.Errorf("bob's hit carries Set-Cookie %q", c)
	}
	f.WaitEvents("access", nil, 3)
}

// TestCacheGETWithContentBypasses: through the real binary, a GET with a
// body (as search APIs take their query) is never answered from the
// store nor stored, with a Content-Length or chunked: each client's
// query reaches the origin and gets its own answer.
func TestCacheGETWithContentBypasses(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fmt.Fprintf(w, "results for %q", b)
	}))
	t.Cleanup(origin.Close)
	f := startFerry(t, minimalConfig+"\n[cache]\nenabled = true\n")
	url := origin.URL + "/index/_search"
	steps := []struct {
		args        []string
		body, cache string
	}{
		{[]string{"-X", "GET", "--data", "alice"}, `results for "alice"`, "ferry; fwd=bypass"},
		{[]string{"-X", "GET", "--data", "bob", "-H", "Transfer-Encoding: chunked"}, `results for "bob"`, "ferry; fwd=bypass"},
		{nil, `results for ""`, "ferry; fwd=uri-miss; fwd-status=200; stored"},
		{[]string{"-X", "GET", "--data", "carol"}, `results for "carol"`, "ferry; fwd=bypass"},
	}
	for i, s := range steps {
		h, status, body := cacheCurl(t, f.Addr, append(s.args, url)...)
		if status != 200 || body != s.body || h.Get("Cache-Status") != s.cache {
			t.Errorf("step %d: %d %q, Cache-Status %q; want %q, %q", i+1, status, body, h.Get("Cache-Status"), s.body, s.cache)
		}
	}
	f.WaitEvents("access", nil, len(steps))
}
