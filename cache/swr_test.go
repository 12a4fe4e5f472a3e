package cache

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestStaleWhileRevalidate is RFC 5861 §3: within the window a stale
// response is served at once and revalidated in the background (the world
// waits for that, so the next step sees its result); outside it, or where
// serving stale is forbidden, the request waits for the validation.
func TestStaleWhileRevalidate(t *testing.T) {
	swr := "max-age=1, stale-while-revalidate=60"
	runCases(t, []conformanceCase{
		{
			name:   "within the window: stale at once, then freshened by the background 304",
			origin: validating(swr, "max-age=100"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{advance: 10 * time.Second, cache: "hit; ttl=-9; detail=stale-while-revalidate", body: "body-v1",
					want: map[string]string{"X-Version": "1", "Age": "10"}, hits: 2},
				{cache: "hit; ttl=100", body: "body-v1", want: map[string]string{"X-Version": "2"}, hits: 2},
			},
		},
		{
			name:   "within the window, a new response in the background replaces it",
			origin: newEachTime("max-age=1, stale-while-revalidate=60"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", body: "v1", hits: 1},
				{advance: 10 * time.Second, cache: "hit; ttl=-9; detail=stale-while-revalidate", body: "v1", hits: 2},
				{cache: "hit; ttl=1", body: "v2", hits: 2},
			},
		},
		{
			name:   "past the window: validated first",
			origin: validating("max-age=1, stale-while-revalidate=5", "max-age=100"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{advance: 10 * time.Second, cache: "fwd=stale; fwd-status=304", want: map[string]string{"X-Version": "2"}, hits: 2},
			},
		},
		{
			name:   "must-revalidate: validated first",
			origin: validating(swr+", must-revalidate", "max-age=100"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{advance: 10 * time.Second, cache: "fwd=stale; fwd-status=304", hits: 2},
			},
		},
		{
			name:   "request no-cache: validated first",
			origin: validating(swr, "max-age=100"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{advance: 10 * time.Second, header: map[string]string{"Cache-Control": "no-cache"}, cache: "fwd=stale; fwd-status=304", hits: 2},
			},
		},
		{
			name:   "a HEAD within the window",
			origin: validating(swr, "max-age=100"),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{advance: 10 * time.Second, method: "HEAD", cache: "hit; ttl=-9; detail=stale-while-revalidate", empty: true, hits: 2},
				{cache: "hit; ttl=100", body: "body-v1", want: map[string]string{"X-Version": "2"}, hits: 2},
			},
		},
	})
}

// newEachTime answers every request with a new body "v<n>" and cc.
func newEachTime(cc string) originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		w.Header().Set("Date", date(now))
		w.Header().Set("Cache-Control", cc)
		fmt.Fprint(w, "v", n)
	}
}

// heldRevalidations is an origin that stores "old" (max-age=1,
// stale-while-revalidate=600, ETag) for a first GET of each path and holds
// every conditional request until release is closed, reporting each on
// arrived; paths under /now/ are answered at once.
type heldRevalidations struct {
	release chan struct{}
	arrived chan string
	once    sync.Once
}

func (h *heldRevalidations) serve(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
	w.Header().Set("Date", date(now))
	w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=600")
	w.Header().Set("ETag", `"e"`)
	if r.Header.Get("If-None-Match") == "" {
		fmt.Fprint(w, "old")
		return
	}
	h.arrived <- r.URL.Path
	if len(r.URL.Path) < 5 || r.URL.Path[:5] != "/now/" {
		select {
		case <-h.release:
		case <-time.After(waitLimit):
		}
	}
	w.WriteHeader(http.StatusNotModified)
}

func (h *heldRevalidations) open() { h.once.Do(func() { close(h.release) }) }

// TestBackgroundRevalidation: background revalidations are one per
// stored response, at most maxBackground at once (past that the request
// validates in the foreground), and Close cancels and waits for them.
func TestBackgroundRevalidation(t *testing.T) {
	h := &heldRevalidations{release: make(chan struct{}), arrived: make(chan string, 4*maxBackground)}
	w := newWorld(t, Config{MemoryBytes: 1 << 20}, h.serve)
	t.Cleanup(h.open) // before the origin closes (cleanups run last first)
	paths := make([]string, maxBackground)
	for i := range paths {
		paths[i] = fmt.Sprintf("/p%d", i)
		w.do("GET", paths[i], nil)
	}
	w.do("GET", "/now/extra", nil)
	w.clk.advance(10 * time.Second)

	stale := func(path string) string {
		resp := get(t, w, path)
		resp.Body.Close()
		return cacheStatus(resp.Header)
	}
	for _, p := range paths {
		if got := stale(p); got != "hit; ttl=-9; detail=stale-while-revalidate" {
			t.Fatalf("%s: %q, want a stale hit", p, got)
		}
	}
	for range paths {
		within(t, h.arrived, "a background revalidation")
	}
	// Again while they are held: served stale, no second revalidation.
	if got := stale(paths[0]); got != "hit; ttl=-9; detail=stale-while-revalidate" {
		t.Errorf("a second request: %q", got)
	}
	// The bound is reached: this one validates before it is answered.
	if got := stale("/now/extra"); got != "fwd=stale; fwd-status=304" {
		t.Errorf("past the bound: %q, want a validation in the foreground", got)
	}
	if p := within(t, h.arrived, "the foreground validation"); p != "/now/extra" {
		t.Errorf("revalidated %s, want /now/extra", p)
	}
	select {
	case p := <-h.arrived:
		t.Errorf("a second background revalidation of %s", p)
	default:
	}
	// Close returns while the origin still holds them: they were
	// cancelled, not waited out, and none is left.
	closed := make(chan error, 1)
	go func() { closed <- w.cache.Close() }()
	within(t, closed, "Close")
	w.cache.mu.Lock()
	left := len(w.cache.revalidating)
	w.cache.mu.Unlock()
	if left != 0 {
		t.Errorf("%d revalidations left after Close", left)
	}
	if w.tr.reserveRevalidation(httptestRequest(w, paths[0]), noDirectives(), &object{id: "x"}) != nil {
		t.Errorf("a background revalidation started after Close")
	}
}

func httptestRequest(w *world, path string) *http.Request {
	req, _ := http.NewRequest("GET", w.origin.URL+path, nil)
	return req
}
