package cache

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// routeHeader carries a request's route in these tests: Transport.Route
// reads it, as the forwarder reads the engine's plan.
const routeHeader = "X-Test-Route"

func routeOf(req *http.Request) string { return req.Header.Get(routeHeader) }

// TestRoutesAreVariants: a response fetched by one route (direct, an
// upstream, a group) never answers a request of another; each route's
// response is stored beside the others', in memory and on disk, and
// survives a restart as its route's.
func TestRoutesAreVariants(t *testing.T) {
	for _, store := range []string{"memory", "disk"} {
		t.Run(store, func(t *testing.T) {
			cfg := Config{}
			if store == "disk" {
				cfg = Config{DiskDir: t.TempDir(), DiskBytes: 1 << 20}
			}
			w := newWorld(t, cfg, func(rw http.ResponseWriter, r *http.Request, n int, now time.Time) {
				rw.Header().Set("Cache-Control", "max-age=60")
				rw.Header().Set("Date", date(now))
				fmt.Fprintf(rw, "fetch %d", n)
			})
			w.tr.Route = routeOf
			get := func(route, wantBody, wantStatus string) {
				t.Helper()
				r := w.do("GET", "/r", map[string]string{routeHeader: route})
				if r.err != nil || r.body != wantBody || !strings.HasPrefix(cacheStatus(r.header), wantStatus) {
					t.Errorf("route %q: %v %q, Cache-Status %q; want %q, %s", route, r.err, r.body, cacheStatus(r.header), wantBody, wantStatus)
				}
			}
			get("", "fetch 1", "fwd=uri-miss") // "" is direct
			get("filter", "fetch 2", "fwd=vary-miss")
			get("corp", "fetch 3", "fwd=vary-miss")
			get(RouteDirect, "fetch 1", "hit")
			get("filter", "fetch 2", "hit")
			get("corp", "fetch 3", "hit")
			if store == "disk" {
				w.open(cfg)
				get("corp", "fetch 3", "hit")
				get("filter", "fetch 2", "hit")
				get("", "fetch 1", "hit")
			}
			if n := w.originHits(); n != 3 {
				t.Errorf("origin asked %d times, want 3", n)
			}
			// PURGE (and §4.4 invalidation) removes every route's.
			if n := w.cache.Purge(w.mustURL("/r")); n != 3 {
				t.Errorf("purged %d, want 3", n)
			}
		})
	}
}

func (w *world) mustURL(path string) *url.URL {
	req, err := http.NewRequest("GET", w.origin.URL+path, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return req.URL
}

// TestRoutesCollapseApart: concurrent misses of one URL share an origin
// fetch only within one route.
func TestRoutesCollapseApart(t *testing.T) {
	w := newWorld(t, Config{}, nil)
	g := w.gate()
	w.handler = func(rw http.ResponseWriter, r *http.Request, n int, now time.Time) {
		rw.Header().Set("Cache-Control", "max-age=60")
		rw.Header().Set("Content-Length", "7")
		rw.WriteHeader(200)
		if n == 1 {
			rw.(http.Flusher).Flush() // the head is out: a follower would get it
			g.wait()
		}
		fmt.Fprintf(rw, "fetch %d", n)
	}
	w.tr.Route = routeOf
	first := make(chan result, 1)
	go func() { first <- w.do("GET", "/c", nil) }()
	within(t, g.arrived, "the first fetch")
	r := w.do("GET", "/c", map[string]string{routeHeader: "filter"})
	g.open()
	if r.body != "fetch 2" {
		t.Errorf("filter route got %q, want its own fetch", r.body)
	}
	if r := within(t, first, "the direct fetch"); r.body != "fetch 1" {
		t.Errorf("direct route got %q", r.body)
	}
}

// TestOlderEntriesRoutes: a disk entry an older ferry wrote has no route.
// One with the origin's address was fetched direct and is served as
// direct only; one without came through an unknown upstream and is
// dropped at start, never served.
func TestOlderEntriesRoutes(t *testing.T) {
	for _, tt := range []struct {
		name    string
		addr    bool
		route   string
		wantHit bool
	}{
		{"with address, direct request", true, "", true},
		{"with address, upstream request", true, "corp", false},
		{"no address, direct request", false, "", false},
		{"no address, upstream request", false, "corp", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{DiskDir: t.TempDir(), DiskBytes: 1 << 20}
			w := newWorld(t, cfg, func(rw http.ResponseWriter, r *http.Request, n int, now time.Time) {
				rw.Header().Set("Cache-Control", "max-age=60")
				rw.Header().Set("Date", date(now))
				fmt.Fprintf(rw, "fetch %d", n)
			})
			w.tr.Route = routeOf
			w.do("GET", "/old", nil)
			files := entryFiles(t, cfg.DiskDir)
			if len(files) != 1 {
				t.Fatalf("%d entry files", len(files))
			}
			rewriteMeta(t, files[0], func(m *meta) {
				if !m.Addr.IsValid() || m.Route != RouteDirect {
					t.Fatalf("stored addr %v route %q", m.Addr, m.Route)
				}
				m.Route = "" // as an older ferry wrote it
				if !tt.addr {
					m.Addr = netip.AddrPort{}
				}
			})
			w.open(cfg)
			r := w.do("GET", "/old", map[string]string{routeHeader: tt.route})
			if hit := strings.HasPrefix(cacheStatus(r.header), "hit"); hit != tt.wantHit || hit != (r.body == "fetch 1") {
				t.Errorf("%q, Cache-Status %q; want hit %v", r.body, cacheStatus(r.header), tt.wantHit)
			}
			if !tt.addr && !strings.Contains(strings.Join(w.errors, "\n"), "older ferry") {
				t.Errorf("no word of the dropped entry: %q", w.errors)
			}
		})
	}
}

// rewriteMeta changes the meta of the entry file at p, body kept.
func rewriteMeta(t *testing.T, p string, change func(*meta)) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	e, err := readEntry(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(p)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	change(&e.meta)
	head, _, err := encodeHead(&e.meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, append(head, raw[e.bodyOff:]...), 0o600); err != nil {
		t.Fatal(err)
	}
}
