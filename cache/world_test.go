package cache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is the injected clock: it moves only when a test says so, so
// every Age and ttl in the tests is exact.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// originFunc answers the n-th request (from 1) the origin sees.
type originFunc func(w http.ResponseWriter, r *http.Request, n int, now time.Time)

// world is an origin on 127.0.0.1:0 that counts its requests, and a cache
// in front of it with the injected clock.
type world struct {
	t      testing.TB
	clk    *clock
	cache  *Cache
	tr     *Transport
	origin *httptest.Server

	mu       sync.Mutex
	hits     int
	handler  originFunc
	reported []string
	errors   []string // what the cache reported through OnError
	gates    []*gate
}

func newWorld(t testing.TB, cfg Config, handler originFunc) *world {
	w := &world{t: t, clk: newClock(), handler: handler}
	w.origin = httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(func() {
		for _, g := range w.gates {
			g.open() // held handlers go on, so the origin can close
		}
		w.origin.Close()
	})
	next := &http.Transport{DisableCompression: true}
	t.Cleanup(next.CloseIdleConnections)
	w.tr = &Transport{Next: next, Report: func(_ *http.Request, s string) {
		w.mu.Lock()
		w.reported = append(w.reported, s)
		w.mu.Unlock()
	}}
	w.open(cfg)
	return w
}

// open puts a new Cache with cfg in front of the origin, as a restart of
// ferry would; the previous one is closed first.
func (w *world) open(cfg Config) {
	if w.cache != nil {
		w.cache.Close()
	}
	cfg.Now = w.clk.now
	switch cfg.StaleIfUnreachable {
	case 0:
		cfg.StaleIfUnreachable = DefaultStaleIfUnreachable // as a config file's default
	case -1:
		cfg.StaleIfUnreachable = 0 // the tests' way to say never
	}
	if cfg.MemoryBytes == 0 && cfg.DiskDir == "" {
		cfg.MemoryBytes = 8 << 20
	}
	cfg.OnError = func(op string, err error) {
		w.mu.Lock()
		w.errors = append(w.errors, op+": "+err.Error())
		w.mu.Unlock()
	}
	c, err := New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { c.Close() })
	w.cache, w.tr.Cache = c, c
}

func (w *world) serve(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	w.hits++
	n, h := w.hits, w.handler
	w.mu.Unlock()
	h(rw, r, n, w.clk.now())
}

func (w *world) originHits() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hits
}

func (w *world) lastReport() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.reported) == 0 {
		return ""
	}
	return w.reported[len(w.reported)-1]
}

type result struct {
	status int
	header http.Header
	body   string
	err    error
}

// do sends one request through the cache and reads the whole body, as
// ReverseProxy would, so that a store completes.
func (w *world) do(method, path string, hdr map[string]string) result {
	req, err := http.NewRequest(method, w.origin.URL+path, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := w.tr.RoundTrip(req)
	if err != nil {
		return result{err: err}
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	w.settle()
	return result{status: resp.StatusCode, header: resp.Header, body: string(b), err: err}
}

// settle waits for the background disk writes, so a following request or
// a restart sees them.
func (w *world) settle() { w.cache.Sync() }

// cacheStatus is ferry's member of Cache-Status without the name.
func cacheStatus(h http.Header) string {
	for _, v := range h.Values("Cache-Status") {
		if s, ok := strings.CutPrefix(v, "ferry; "); ok {
			return s
		}
	}
	return ""
}

// date formats t for a Date, Expires or Last-Modified field.
func date(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
