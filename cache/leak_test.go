package cache

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// cookie304 is an origin with ETag "v1" whose full answer carries cc1 and
// no cookie, and whose 304s carry cc2 and a cookie naming the request's
// X-User, as an origin that logs a user in on any request would.
func cookie304(cc1, cc2 string) originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		h := w.Header()
		h.Set("Date", date(now))
		h.Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			h.Set("Cache-Control", cc2)
			h.Set("Set-Cookie", "sid="+r.Header.Get("X-User"))
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Cache-Control", cc1)
		fmt.Fprint(w, "body-v1")
	}
}

// TestNoLeakThrough304 is RFC 9111 §3.2 and §4.3.4 for a shared cache: a
// 304's Set-Cookie reaches the client that asked and never the stored
// entry, and a 304 that makes the response unstorable removes it.
func TestNoLeakThrough304(t *testing.T) {
	alice := map[string]string{"X-User": "alice"}
	bob := map[string]string{"X-User": "bob"}
	tests := []struct {
		name   string
		origin originFunc
		steps  []step
	}{
		{
			name:   "a 304's cookie goes to its own client only",
			origin: cookie304("max-age=10", "max-age=10"),
			steps: []step{
				{header: bob, cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{advance: 20 * time.Second, header: alice, cache: "fwd=stale; fwd-status=304", body: "body-v1",
					want: map[string]string{"Set-Cookie": "sid=alice"}, hits: 2},
				{header: bob, cache: "hit; ttl=10", body: "body-v1", want: map[string]string{"Set-Cookie": ""}, hits: 2},
			},
		},
		{
			name:   "a 304's cookie does not reach a client's own 304 of another user",
			origin: cookie304("max-age=10", "max-age=10"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{advance: 20 * time.Second, header: alice, cache: "fwd=stale; fwd-status=304", want: map[string]string{"Set-Cookie": "sid=alice"}, hits: 2},
				{header: map[string]string{"If-None-Match": `"v1"`, "X-User": "bob"}, status: 304, cache: "hit; ttl=10",
					empty: true, want: map[string]string{"Set-Cookie": ""}, hits: 2},
			},
		},
		{
			name:   "a 304 saying private answers its client and the entry is gone",
			origin: cookie304("max-age=10", "private, max-age=10"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{advance: 20 * time.Second, header: alice, cache: "fwd=stale; fwd-status=304", body: "body-v1",
					want: map[string]string{"Set-Cookie": "sid=alice", "Cache-Control": "private, max-age=10"}, hits: 2},
				{header: bob, cache: "fwd=uri-miss; fwd-status=200; stored", body: "body-v1", want: map[string]string{"Set-Cookie": ""}, hits: 3},
			},
		},
		{
			name:   "a 304 saying no-store answers its client and the entry is gone",
			origin: validating("max-age=10", "no-store"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{advance: 20 * time.Second, cache: "fwd=stale; fwd-status=304", body: "body-v1", want: map[string]string{"X-Version": "2"}, hits: 2},
				{cache: "fwd=uri-miss; fwd-status=200; stored", want: map[string]string{"X-Version": "1"}, hits: 3},
			},
		},
		{
			name:   "an explicitly public entry keeps its own cookie but never takes a 304's",
			origin: publicCookie304(),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", want: map[string]string{"Set-Cookie": "shared=1"}, hits: 1},
				{advance: 20 * time.Second, header: alice, cache: "fwd=stale; fwd-status=304", hits: 2},
				{header: bob, cache: "hit; ttl=10", want: map[string]string{"Set-Cookie": "shared=1"}, hits: 2},
			},
		},
	}
	for _, store := range []string{"memory", "disk", "both"} {
		for _, tt := range tests {
			t.Run(store+"/"+tt.name, func(t *testing.T) {
				w := newWorld(t, storeConfig(t, store), tt.origin)
				runSteps(t, w, tt.steps)
				// Whatever is stored now, in memory or read back from
				// disk, carries no cookie of a 304.
				check := func(where string) {
					if r := w.do("GET", "/r", bob); r.err != nil || slicesHasPrefix(r.header.Values("Set-Cookie"), "sid=") {
						t.Errorf("%s: Set-Cookie %q (err %v)", where, r.header.Values("Set-Cookie"), r.err)
					}
				}
				check("after the steps")
				if store != "memory" {
					w.open(storeConfig(t, store))
					check("after a restart")
				}
			})
		}
	}
}

func slicesHasPrefix(vs []string, prefix string) bool {
	for _, v := range vs {
		if strings.HasPrefix(v, prefix) {
			return true
		}
	}
	return false
}

// publicCookie304 stores a public response with its own cookie; its 304s
// bring another one, which must go to the revalidating client only.
func publicCookie304() originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		h := w.Header()
		h.Set("Date", date(now))
		h.Set("ETag", `"v1"`)
		h.Set("Cache-Control", "public, max-age=10")
		if r.Header.Get("If-None-Match") == `"v1"` {
			h.Set("Set-Cookie", "sid="+r.Header.Get("X-User"))
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Set-Cookie", "shared=1")
		fmt.Fprint(w, "body-v1")
	}
}

// TestStorableReadsEveryLine is §3 with fields of several lines: an empty
// first line must not hide the second, which decides.
func TestStorableReadsEveryLine(t *testing.T) {
	tests := []struct {
		name   string
		req    http.Header
		resp   http.Header
		reason string
	}{
		{name: "empty then real Set-Cookie", resp: http.Header{"Set-Cookie": {"", "sid=1"}}, reason: "set-cookie"},
		{name: "only an empty Set-Cookie", resp: http.Header{"Set-Cookie": {""}}, reason: "set-cookie"},
		{name: "Set-Cookie2", resp: http.Header{"Set-Cookie2": {"sid=1"}}, reason: "set-cookie"},
		{name: "empty then real Authorization", req: http.Header{"Authorization": {"", "Basic YTpi"}}, reason: "authorization"},
		{name: "empty then real Range", req: http.Header{"Range": {"", "bytes=0-1"}}, reason: "range"},
		{name: "empty then real Trailer", resp: http.Header{"Trailer": {"", "X-Sum"}}, reason: "trailer"},
		{name: "private on a second Cache-Control line", resp: http.Header{"Cache-Control": {"max-age=60", "private"}}, reason: "private"},
		{name: "no-store after an empty line", resp: http.Header{"Cache-Control": {"", "no-store"}}, reason: "no-store"},
		{name: "Vary star on a second line", resp: http.Header{"Vary": {"Accept", "*"}}, reason: "vary"},
		{name: "shareable", resp: http.Header{}, reason: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "http://example.test/", nil)
			for k, vs := range tt.req {
				req.Header[k] = vs
			}
			resp := &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"max-age=60"}}}
			for k, vs := range tt.resp {
				resp.Header[k] = vs
			}
			cc := parseCacheControl(resp.Header["Cache-Control"])
			if got := storable(req, Directives{MaxAge: -1, SMaxAge: -1, MaxStale: -1, MinFresh: -1}, resp, cc); got != tt.reason {
				t.Errorf("storable = %q, want %q", got, tt.reason)
			}
		})
	}
}

// TestTwoExpiresAreStale is §5.3: Expires lines that might disagree are
// an invalid Expires, so the response is stale at once.
func TestTwoExpiresAreStale(t *testing.T) {
	now := newClock().now()
	h := http.Header{"Expires": {date(now.Add(time.Hour)), date(now.Add(2 * time.Hour))}}
	if got := freshnessLifetime(h, parseCacheControl(nil), 200, now); got != 0 {
		t.Errorf("lifetime %v, want 0", got)
	}
}

// FuzzUpdate304 merges arbitrary 304 fields into a stored response: no
// panic, a 304's cookie never in what is stored, and what is stored always
// passes the storage rules of a fresh response.
func FuzzUpdate304(f *testing.F) {
	f.Add("max-age=10", `"v1"`, "sid=a", "", "X-A: 1")
	f.Add("private", `"v1"`, "", "", "")
	f.Add("no-store, max-age=5", `W/"v1"`, "", "Accept", "")
	f.Add("public", "", "a=b", "*", "Set-Cookie2: x")
	f.Fuzz(func(t *testing.T, cc, etag, cookie, vary, extra string) {
		c, err := New(Config{MemoryBytes: 1 << 20, Now: newClock().now})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		req, _ := http.NewRequest(http.MethodGet, "http://example.test/r", nil)
		o := newObject(meta{
			Key:    primaryKey(http.MethodGet, req.URL),
			Status: 200,
			Header: http.Header{"Etag": {`"v1"`}, "Cache-Control": {"max-age=10"}},
		}, 2, []byte("ok"))
		h := http.Header{}
		for k, v := range map[string]string{"Cache-Control": cc, "Etag": etag, "Set-Cookie": cookie, "Vary": vary} {
			if v != "" {
				h[k] = []string{v}
			}
		}
		if k, v, ok := strings.Cut(extra, ":"); ok {
			h.Add(http.CanonicalHeaderKey(strings.TrimSpace(k)), strings.TrimSpace(v))
		}
		resp := &http.Response{StatusCode: http.StatusNotModified, Header: h}
		reqCC := requestDirectives(req.Header)
		n, stored := c.update(req, reqCC, o, resp, exchange{})
		if n == nil {
			return
		}
		if has(n.Header, setCookie) || has(n.Header, setCookie2) {
			t.Fatalf("a 304's cookie was merged: %q", n.Header)
		}
		merged := &http.Response{StatusCode: n.Status, Header: n.Header, ContentLength: n.size}
		if why := storable(req, reqCC, merged, n.cc); stored != (why == "") || stored == n.transient {
			t.Fatalf("stored %v, transient %v, storable %q", stored, n.transient, why)
		}
	})
}
