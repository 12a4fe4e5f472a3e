package cache

import (
	"fmt"
	"io"
	"net/http"
	"os"
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
			name:   "an explicitly public entry is stored without its cookie and never takes a 304's",
			origin: publicCookie304(),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", want: map[string]string{"Set-Cookie": "shared=1"}, hits: 1},
				{advance: 20 * time.Second, header: alice, cache: "fwd=stale; fwd-status=304", want: map[string]string{"Set-Cookie": "sid=alice"}, hits: 2},
				{header: bob, cache: "hit; ttl=10", want: map[string]string{"Set-Cookie": ""}, hits: 2},
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

// userCookie is an origin with ETag "v1" and Cache-Control cc that gives
// every request a cookie (in field, Set-Cookie or Set-Cookie2) naming the
// request's X-User, on its 304s to If-None-Match "v1" as on full answers,
// and answers HEAD without a body.
func userCookie(cc, field string) originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		h := w.Header()
		h.Set("Date", date(now))
		h.Set("ETag", `"v1"`)
		h.Set("Cache-Control", cc)
		h.Set(field, "sid="+r.Header.Get("X-User"))
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprint(w, "body-v1")
	}
}

// TestCookiesNeverShared: a response that may be stored although it sets
// a cookie (public, s-maxage) is stored without it. The client whose
// request fetched it gets its cookie; a hit, a stale copy served when the
// origin fails, and the answer after another client's revalidation
// never carry it. A 304's or a HEAD's cookie, of either field, reaches
// its own client.
func TestCookiesNeverShared(t *testing.T) {
	alice := map[string]string{"X-User": "alice"}
	bob := map[string]string{"X-User": "bob"}
	var cases []conformanceCase
	for _, field := range []string{"Set-Cookie", "Set-Cookie2"} {
		cases = append(cases, conformanceCase{
			name:   field + " with public",
			origin: userCookie("public, max-age=10, stale-if-error=600", field),
			steps: []step{
				{header: alice, cache: "fwd=uri-miss; fwd-status=200; stored", want: map[string]string{field: "sid=alice"}, hits: 1},
				{header: bob, cache: "hit; ttl=10", body: "body-v1", want: map[string]string{field: ""}, hits: 1},
				{advance: 20 * time.Second, header: bob, cache: "fwd=stale; fwd-status=304", body: "body-v1", want: map[string]string{field: "sid=bob"}, hits: 2},
				{header: alice, cache: "hit; ttl=10", body: "body-v1", want: map[string]string{field: ""}, hits: 2},
				{advance: 20 * time.Second, method: "HEAD", header: alice, cache: "fwd=stale; fwd-status=200", empty: true,
					want: map[string]string{field: "sid=alice"}, hits: 3},
				{header: bob, cache: "hit; ttl=10", want: map[string]string{field: ""}, hits: 3},
			},
		}, conformanceCase{
			name:   field + " with s-maxage",
			origin: userCookie("s-maxage=10", field),
			steps: []step{
				{header: alice, cache: "fwd=uri-miss; fwd-status=200; stored", want: map[string]string{field: "sid=alice"}, hits: 1},
				{header: bob, cache: "hit; ttl=10", want: map[string]string{field: ""}, hits: 1},
			},
		})
	}
	runCases(t, cases)
}

// TestCookiesNeverSharedOnDisk: an entry an older ferry wrote with the
// cookie of the client that fetched it is served without it.
func TestCookiesNeverSharedOnDisk(t *testing.T) {
	dir := t.TempDir()
	w := newWorld(t, Config{DiskDir: dir, DiskBytes: 8 << 20}, userCookie("public, max-age=60", "Set-Cookie"))
	if r := w.do("GET", "/r", map[string]string{"X-User": "alice"}); r.header.Get("Set-Cookie") != "sid=alice" {
		t.Fatalf("alice's own fetch: Set-Cookie %q", r.header.Get("Set-Cookie"))
	}
	files := entryFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("%d entry files, want 1", len(files))
	}
	addStoredField(t, files[0], "Set-Cookie", "sid=alice")
	w.open(Config{DiskDir: dir, DiskBytes: 8 << 20})
	r := w.do("GET", "/r", map[string]string{"X-User": "bob"})
	if cacheStatus(r.header) != "hit; ttl=60" || r.body != "body-v1" {
		t.Fatalf("bob: %q %q, want the stored entry", cacheStatus(r.header), r.body)
	}
	if c := r.header.Values("Set-Cookie"); len(c) != 0 {
		t.Errorf("bob's hit carries Set-Cookie %q", c)
	}
}

// addStoredField rewrites the entry file at path with field: value added
// to its stored header, as a ferry that kept the field would have written
// it.
func addStoredField(t *testing.T, path, field, value string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	e, err := readEntry(f)
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, e.bodyLen)
	_, err = f.ReadAt(body, e.bodyOff)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	e.meta.Header.Add(field, value)
	head, _, err := encodeHead(&e.meta)
	if err != nil {
		t.Fatal(err)
	}
	b := append(append(head, body...), encodeTrailer(e.bodyLen, e.bodyCRC)...)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestGETWithContentBypasses: content in a GET has no generally defined
// semantics (RFC 9110 §9.3.1), but an origin that reads it (a search API
// taking its query in the body) answers per body. Such a request is
// neither answered from the store nor stored, so one client's answer is
// never served for another's query, nor a stored answer for the URI
// alone for a query.
func TestGETWithContentBypasses(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Date", date(now))
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprintf(w, "n=%d query=%s", n, b)
	}
	send := func(w *world, body string, chunked bool) (string, string) {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest("GET", w.origin.URL+"/search", rd)
		if err != nil {
			t.Fatal(err)
		}
		if chunked {
			req.ContentLength = -1
		}
		resp, err := w.tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		w.settle()
		return cacheStatus(resp.Header), string(b)
	}
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			w := newWorld(t, Config{}, echo)
			steps := []struct{ body, cache, got string }{
				{"alice", "fwd=bypass", "n=1 query=alice"},
				{"bob", "fwd=bypass", "n=2 query=bob"},
				{"", "fwd=uri-miss; fwd-status=200; stored", "n=3 query="},
				{"", "hit; ttl=60", "n=3 query="},
				{"carol", "fwd=bypass", "n=4 query=carol"},
			}
			for i, s := range steps {
				if cache, got := send(w, s.body, chunked && s.body != ""); cache != s.cache || got != s.got {
					t.Errorf("step %d (content %q): %q %q, want %q %q", i+1, s.body, cache, got, s.cache, s.got)
				}
			}
		})
	}
}
