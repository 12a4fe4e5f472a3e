package cache

import (
	"cmp"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// step is one request of a conformance case and what it must yield.
type step struct {
	advance time.Duration     // the clock moves first
	method  string            // default GET
	path    string            // default /r
	header  map[string]string // request fields
	status  int               // default 200
	cache   string            // ferry's Cache-Status member, name dropped; a trailing * matches any rest
	body    string            // a prefix of the body; "" checks nothing
	empty   bool              // the body must be empty
	want    map[string]string // response fields; "" means absent
	hits    int               // origin requests in all after this step
	fails   bool              // RoundTrip returns an error (and nothing else is checked but hits)
}

// TestConformance walks RFC 9111 directive by directive through the
// Transport, with an origin that counts its requests and a clock that
// moves only between steps.
func TestConformance(t *testing.T) {
	lastModified := newClock().now().Add(-100 * time.Hour)
	runCases(t, []conformanceCase{
		{
			name:   "fresh hit, Age from the resident time",
			origin: fixed(200, "hello", "Cache-Control", "max-age=60"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", body: "hello", hits: 1},
				{advance: 10 * time.Second, cache: "hit; ttl=50", body: "hello", want: map[string]string{"Age": "10", "Content-Length": "5"}, hits: 1},
				{advance: 49 * time.Second, cache: "hit; ttl=1", hits: 1},
				{advance: time.Second, cache: "fwd=stale; fwd-status=200; stored", hits: 2},
			},
		},
		{
			name: "Age arithmetic: Age field plus resident time (corrected_age_value)",
			origin: func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
				w.Header().Set("Date", date(now.Add(-5*time.Second)))
				w.Header().Set("Age", "30")
				w.Header().Set("Cache-Control", "max-age=100")
				fmt.Fprint(w, "aged")
			},
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{advance: 10 * time.Second, cache: "hit; ttl=60", want: map[string]string{"Age": "40"}, hits: 1},
			},
		},
		{
			name: "Age arithmetic: Date in the past wins (apparent_age)",
			origin: func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
				w.Header().Set("Date", date(now.Add(-50*time.Second)))
				w.Header().Set("Age", "20")
				w.Header().Set("Cache-Control", "max-age=100")
				fmt.Fprint(w, "aged")
			},
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{advance: 5 * time.Second, cache: "hit; ttl=45", want: map[string]string{"Age": "55"}, hits: 1},
			},
		},
		{
			name:   "stale, revalidated by a 304 whose fields are merged",
			origin: validating("max-age=10", "max-age=100"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", want: map[string]string{"X-Version": "1"}, hits: 1},
				{advance: 20 * time.Second, cache: "fwd=stale; fwd-status=304", body: "body-v1",
					want: map[string]string{"X-Version": "2", "Cache-Control": "max-age=100", "Content-Type": "text/plain", "Age": "0"}, hits: 2},
				{advance: 50 * time.Second, cache: "hit; ttl=50", body: "body-v1", want: map[string]string{"X-Version": "2", "Age": "50"}, hits: 2},
			},
		},
		{
			name:   "stale with only Last-Modified: revalidated with If-Modified-Since, the 304 merged",
			origin: lastModifiedOrigin(lastModified),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", want: map[string]string{"X-Version": "1"}, hits: 1},
				{advance: 20 * time.Second, cache: "fwd=stale; fwd-status=304", body: "body-lm",
					want: map[string]string{"X-Version": "2", "Cache-Control": "max-age=100", "Last-Modified": date(lastModified), "Age": "0"}, hits: 2},
				{advance: 50 * time.Second, cache: "hit; ttl=50", body: "body-lm", want: map[string]string{"X-Version": "2"}, hits: 2},
			},
		},
		{
			name: "Vary: secondary keys select the variant; a new value is a vary-miss",
			origin: func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
				w.Header().Set("Date", date(now))
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Vary", "Accept-Encoding")
				fmt.Fprint(w, "enc="+r.Header.Get("Accept-Encoding"))
			},
			steps: []step{
				{header: map[string]string{"Accept-Encoding": "gzip, br"}, cache: "fwd=uri-miss; fwd-status=200; stored", body: "enc=gzip, br", hits: 1},
				{header: map[string]string{"Accept-Encoding": "identity"}, cache: "fwd=vary-miss; fwd-status=200; stored", body: "enc=identity", hits: 2},
				{header: map[string]string{"Accept-Encoding": "gzip,br"}, cache: "hit; ttl=60", body: "enc=gzip, br", hits: 2},
				{header: map[string]string{"Accept-Encoding": "identity"}, cache: "hit; ttl=60", body: "enc=identity", hits: 2},
				{cache: "fwd=vary-miss; fwd-status=200; stored", body: "enc=", hits: 3},
			},
		},
		{
			name:   "Vary: * never matches, so it is not stored",
			origin: fixed(200, "star", "Cache-Control", "max-age=60", "Vary", "*"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200", hits: 1},
				{cache: "fwd=uri-miss; fwd-status=200", hits: 2},
			},
		},
		{
			name:   "no-store is not stored",
			origin: fixed(200, "secret", "Cache-Control", "no-store, max-age=60"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200", hits: 1},
				{cache: "fwd=uri-miss; fwd-status=200", hits: 2},
			},
		},
		{
			name:   "must-understand with an understood status overrides no-store",
			origin: fixed(200, "mu", "Cache-Control", "must-understand, no-store, max-age=60"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{cache: "hit; ttl=60", hits: 1},
			},
		},
		{
			name:   "request no-store: the response is not stored",
			origin: fixed(200, "x", "Cache-Control", "max-age=60"),
			steps: []step{
				{header: map[string]string{"Cache-Control": "no-store"}, cache: "fwd=uri-miss; fwd-status=200", hits: 1},
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 2},
			},
		},
		{
			name:   "private is not stored by a shared cache",
			origin: fixed(200, "mine", "Cache-Control", "private, max-age=60"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200", hits: 1},
				{cache: "fwd=uri-miss; fwd-status=200", hits: 2},
			},
		},
		{
			name:   "Authorization: not stored without public, s-maxage or must-revalidate",
			origin: fixed(200, "auth", "Cache-Control", "max-age=60"),
			steps: []step{
				{header: map[string]string{"Authorization": "Basic dTpw"}, cache: "fwd=uri-miss; fwd-status=200", hits: 1},
				{header: map[string]string{"Authorization": "Basic dTpw"}, cache: "fwd=uri-miss; fwd-status=200", hits: 2},
			},
		},
		{
			name:   "Authorization: stored when the response says public",
			origin: fixed(200, "auth", "Cache-Control", "public, max-age=60"),
			steps: []step{
				{header: map[string]string{"Authorization": "Basic dTpw"}, cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{header: map[string]string{"Authorization": "Basic dTpw"}, cache: "hit; ttl=60", hits: 1},
			},
		},
		{
			name:   "s-maxage over max-age, and it forbids serving stale",
			origin: fixed(200, "s", "Cache-Control", "max-age=100, s-maxage=10", "ETag", `"s1"`),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{advance: 5 * time.Second, cache: "hit; ttl=5", hits: 1},
				{advance: 10 * time.Second, header: map[string]string{"Cache-Control": "max-stale=1000"}, cache: "fwd=stale; fwd-status=200; stored", hits: 2},
			},
		},
		{
			name:   "must-revalidate: a stale response is validated despite max-stale",
			origin: validating("max-age=10, must-revalidate", "max-age=10, must-revalidate"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{advance: 20 * time.Second, header: map[string]string{"Cache-Control": "max-stale=1000"}, cache: "fwd=stale; fwd-status=304", body: "body-v1", hits: 2},
			},
		},
		{
			name:   "proxy-revalidate: a shared cache validates a stale response despite max-stale",
			origin: validating("max-age=10, proxy-revalidate", "max-age=10, proxy-revalidate"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{advance: 5 * time.Second, header: map[string]string{"Cache-Control": "max-stale=1000"}, cache: "hit; ttl=5", hits: 1},
				{advance: 15 * time.Second, header: map[string]string{"Cache-Control": "max-stale=1000"}, cache: "fwd=stale; fwd-status=304", body: "body-v1", hits: 2},
			},
		},
		{
			name:   "max-stale serves a stale response that allows it",
			origin: fixed(200, "old", "Cache-Control", "max-age=10", "ETag", `"o"`),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{advance: 20 * time.Second, header: map[string]string{"Cache-Control": "max-stale=15"}, cache: "hit; ttl=-10", body: "old", want: map[string]string{"Age": "20"}, hits: 1},
				{header: map[string]string{"Cache-Control": "max-stale=5"}, cache: "fwd=stale; fwd-status=200; stored", hits: 2},
			},
		},
		{
			name:   "request no-cache, max-age and min-fresh force a validation",
			origin: validating("max-age=60", "max-age=60"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{advance: 10 * time.Second, header: map[string]string{"Cache-Control": "no-cache"}, cache: "fwd=request; fwd-status=304", hits: 2},
				{advance: 10 * time.Second, header: map[string]string{"Cache-Control": "max-age=5"}, cache: "fwd=request; fwd-status=304", hits: 3},
				{advance: 50 * time.Second, header: map[string]string{"Cache-Control": "min-fresh=20"}, cache: "fwd=request; fwd-status=304", hits: 4},
				{header: map[string]string{"Cache-Control": "max-age=60, min-fresh=10"}, cache: "hit; ttl=60", hits: 4},
				{header: map[string]string{"Pragma": "no-cache"}, cache: "fwd=request; fwd-status=304", hits: 5},
			},
		},
		{
			name:   "response no-cache: stored, validated on every use",
			origin: validating("no-cache, max-age=60", "no-cache, max-age=60"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{cache: "fwd=stale; fwd-status=304", body: "body-v1", hits: 2},
				{cache: "fwd=stale; fwd-status=304", body: "body-v1", hits: 3},
			},
		},
		{
			name:   "only-if-cached: 504 when nothing usable is stored, never the origin",
			origin: fixed(200, "oic", "Cache-Control", "max-age=10", "ETag", `"x"`),
			steps: []step{
				{header: map[string]string{"Cache-Control": "only-if-cached"}, status: 504, cache: "detail=only-if-cached", body: "ferry: only-if-cached", hits: 0},
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{header: map[string]string{"Cache-Control": "only-if-cached"}, cache: "hit; ttl=10", body: "oic", hits: 1},
				{advance: 20 * time.Second, header: map[string]string{"Cache-Control": "only-if-cached"}, status: 504, cache: "detail=only-if-cached", hits: 1},
			},
		},
		{
			name:   "POST invalidates the target URI and a same-origin Location, not another host",
			origin: postOrigin(),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{path: "/other", cache: "fwd=uri-miss; fwd-status=200; stored", hits: 2},
				{cache: "hit; ttl=60", hits: 2},
				{method: "POST", status: 201, cache: "fwd=method", hits: 3},
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 4},
				{path: "/other", cache: "fwd=uri-miss; fwd-status=200; stored", hits: 5},
				{method: "POST", path: "/elsewhere", status: 201, cache: "fwd=method", hits: 6},
				{cache: "hit; ttl=60", hits: 6},
			},
		},
		{
			name:   "an error response to POST invalidates nothing",
			origin: postOrigin(),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{method: "POST", header: map[string]string{"X-Fail": "1"}, status: 500, cache: "fwd=method", hits: 2},
				{cache: "hit; ttl=60", hits: 2},
			},
		},
		{
			name:   "heuristic freshness: 10% of the time since Last-Modified",
			origin: fixed(200, "h", "Last-Modified", date(lastModified)),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{advance: 9 * time.Hour, cache: "hit; ttl=3600", hits: 1},
				{advance: time.Hour, cache: "fwd=stale; fwd-status=200; stored", hits: 2},
			},
		},
		{
			name:   "no heuristic for a status that is not heuristically cacheable",
			origin: fixed(500, "err", "Last-Modified", date(lastModified)),
			steps: []step{
				{status: 500, cache: "fwd=uri-miss; fwd-status=500", hits: 1},
				{status: 500, cache: "fwd=uri-miss; fwd-status=500", hits: 2},
			},
		},
		{
			name:   "404 with max-age is stored",
			origin: fixed(404, "gone", "Cache-Control", "max-age=30"),
			steps: []step{
				{status: 404, cache: "fwd=uri-miss; fwd-status=404; stored", hits: 1},
				{status: 404, cache: "hit; ttl=30", body: "gone", hits: 1},
			},
		},
		{
			name:   "Expires minus Date, and an invalid Expires is already stale",
			origin: expiresOrigin(),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{advance: 20 * time.Second, cache: "hit; ttl=10", hits: 1},
				{advance: 20 * time.Second, cache: "fwd=stale; fwd-status=200; stored", hits: 2},
				{path: "/zero", cache: "fwd=uri-miss; fwd-status=200; stored", hits: 3},
				{path: "/zero", cache: "fwd=stale; fwd-status=200; stored", hits: 4},
			},
		},
		{
			name:   "HEAD is answered from the stored GET, and a client's If-None-Match gets a 304",
			origin: fixed(200, "payload", "Cache-Control", "max-age=60", "ETag", `"p"`),
			steps: []step{
				{method: "HEAD", cache: "fwd=uri-miss; fwd-status=200", empty: true, hits: 1},
				{cache: "fwd=uri-miss; fwd-status=200; stored", body: "payload", hits: 2},
				{method: "HEAD", cache: "hit; ttl=60", empty: true, want: map[string]string{"Content-Length": "7"}, hits: 2},
				{header: map[string]string{"If-None-Match": `"a", W/"p"`}, status: 304, cache: "hit; ttl=60", empty: true, want: map[string]string{"ETag": `"p"`}, hits: 2},
				{header: map[string]string{"If-None-Match": `"a"`}, cache: "hit; ttl=60", body: "payload", hits: 2},
			},
		},
		{
			name:   "a stale entry and a HEAD: forwarded, and its 200 freshens the entry (§4.3.5)",
			origin: validating("max-age=10", "max-age=10"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{advance: 20 * time.Second, method: "HEAD", cache: "fwd=stale; fwd-status=200", empty: true, hits: 2},
				{cache: "hit; ttl=10", body: "body-v1", hits: 2},
			},
		},
		{
			name:   "Set-Cookie is not stored unless the response says public, and then stored without it",
			origin: setCookieOrigin(),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200", hits: 1},
				{cache: "fwd=uri-miss; fwd-status=200", hits: 2},
				{path: "/public", cache: "fwd=uri-miss; fwd-status=200; stored", want: map[string]string{"Set-Cookie": "theme=dark"}, hits: 3},
				{path: "/public", cache: "hit; ttl=60", want: map[string]string{"Set-Cookie": ""}, hits: 3},
			},
		},
		{
			name:   "only-if-cached never reaches the origin, even for a Range",
			origin: fixed(200, "r", "Cache-Control", "max-age=60"),
			steps: []step{
				{header: map[string]string{"Cache-Control": "only-if-cached", "Range": "bytes=0-0"}, status: 504, cache: "detail=only-if-cached", hits: 0},
			},
		},
		{
			name:   "a 304 with another strong ETag updates nothing: fetched again in full",
			origin: otherETagOrigin(`"2"`),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", body: "one", hits: 1},
				{advance: 20 * time.Second, cache: "fwd=stale; fwd-status=200; stored", body: "two", hits: 3},
				{cache: "hit; ttl=10", body: "two", hits: 3},
			},
		},
		{
			name:   "a 304 with another weak ETag updates nothing: fetched again in full",
			origin: otherETagOrigin(`W/"2"`),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", body: "one", hits: 1},
				{advance: 20 * time.Second, cache: "fwd=stale; fwd-status=200; stored", body: "two", hits: 3},
				{cache: "hit; ttl=10", body: "two", hits: 3},
			},
		},
		{
			name:   "no freshness and no validator is not worth storing",
			origin: fixed(200, "plain"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200", hits: 1},
			},
		},
		{
			name:   "an overlong Cache-Control is treated as no-store",
			origin: fixed(200, "long", "Cache-Control", "max-age=60, "+strings.Repeat("x-ext=1, ", 40)),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200", hits: 1},
			},
		},
		{
			name:   "a Range of another unit bypasses the cache",
			origin: fixed(200, "ranged", "Cache-Control", "max-age=60"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{header: map[string]string{"Range": "items=0-1"}, cache: "fwd=bypass", body: "ranged", hits: 2},
			},
		},
	})
}

// conformanceCase is one row of a conformance table: an origin and the
// requests sent to it through the cache.
type conformanceCase struct {
	name   string
	origin originFunc
	steps  []step
}

// runCases runs every case on the memory store, the disk store and both.
func runCases(t *testing.T, tests []conformanceCase) {
	for _, store := range []string{"memory", "disk", "both"} {
		for _, tt := range tests {
			t.Run(store+"/"+tt.name, func(t *testing.T) {
				runSteps(t, newWorld(t, storeConfig(t, store), tt.origin), tt.steps)
			})
		}
	}
}

// storeConfig is a config with the memory store, the disk store or both.
func storeConfig(t testing.TB, store string) Config {
	switch store {
	case "memory":
		return Config{MemoryBytes: 8 << 20}
	case "disk":
		return Config{DiskDir: t.TempDir(), DiskBytes: 8 << 20}
	default:
		return Config{MemoryBytes: 8 << 20, DiskDir: t.TempDir(), DiskBytes: 8 << 20}
	}
}

func runSteps(t *testing.T, w *world, steps []step) {
	for i, s := range steps {
		w.clk.advance(s.advance)
		method, path := s.method, s.path
		if method == "" {
			method = "GET"
		}
		if path == "" {
			path = "/r"
		}
		r := w.do(method, path, s.header)
		where := fmt.Sprintf("step %d (%s %s)", i+1, method, path)
		if s.fails {
			if r.err == nil {
				t.Errorf("%s: status %d (Cache-Status %q), want an error", where, r.status, cacheStatus(r.header))
			}
			if got := w.originHits(); got != s.hits {
				t.Errorf("%s: origin saw %d requests, want %d", where, got, s.hits)
			}
			continue
		}
		if r.err != nil {
			t.Fatalf("%s: %v", where, r.err)
		}
		if want := cmp.Or(s.status, 200); r.status != want {
			t.Errorf("%s: status %d, want %d", where, r.status, want)
		}
		if got := cacheStatus(r.header); !statusMatch(got, s.cache) {
			t.Errorf("%s: Cache-Status %q, want %q", where, got, s.cache)
		}
		if got := w.lastReport(); !statusMatch(got, s.cache) {
			t.Errorf("%s: reported %q, want %q", where, got, s.cache)
		}
		if !strings.HasPrefix(r.body, s.body) || s.empty && r.body != "" {
			t.Errorf("%s: body %q, want %q (empty %v)", where, r.body, s.body, s.empty)
		}
		for k, v := range s.want {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s: %s %q, want %q", where, k, got, v)
			}
		}
		if got := w.originHits(); got != s.hits {
			t.Errorf("%s: origin saw %d requests, want %d", where, got, s.hits)
		}
	}
}

// statusMatch compares a Cache-Status member with a step's: equal, or with
// the prefix before a trailing "*".
func statusMatch(got, want string) bool {
	if prefix, ok := strings.CutSuffix(want, "*"); ok {
		return strings.HasPrefix(got, prefix)
	}
	return got == want
}
