package connect

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferry-proxy/ferry/cache"
	"github.com/ferry-proxy/ferry/connect/forward"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
)

// discard is an access-log sink that writes nothing.
type discard struct{}

func (discard) Write(*accesslog.Record) {}

// benchProxy runs ferry's HTTP front end with cache c (nil: none) on
// 127.0.0.1:0 and returns a client that uses it as its proxy.
func benchProxy(b *testing.B, c *cache.Cache) *http.Client {
	s := New(Config{Forward: forward.Config{Cache: c}}, tunnel.New(tunnel.Config{}, nil), discard{}, zerolog.Nop())
	return benchClient(b, &url.URL{Scheme: "http", Host: serveOn(b, s)})
}

func benchClient(b *testing.B, proxy *url.URL) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy)
	}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func benchGet(b *testing.B, c *http.Client, u string, size int) {
	resp, err := c.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != int64(size) || resp.StatusCode != 200 {
		b.Fatalf("%s: %d, %d bytes, %v", u, resp.StatusCode, n, err)
	}
}

// BenchmarkCache10KiB measures a 10 KiB response fetched straight from the
// origin (the baseline), through ferry without a cache, as a cache miss
// (a new URL each time, stored), and as a hit from memory and from disk;
// one client in turn (seq: ns/op is the latency) and 8 at once (par).
func BenchmarkCache10KiB(b *testing.B) {
	const size = 10 << 10
	body := strings.Repeat("x", size)
	var originHits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		originHits.Add(1)
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("ETag", `"bench"`)
		w.Header().Set("Content-Type", "application/octet-stream")
		io.WriteString(w, body)
	}))
	b.Cleanup(origin.Close)

	memCache, err := cache.New(cache.Config{MemoryBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	diskCache, err := cache.New(cache.Config{DiskDir: b.TempDir(), DiskBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	// Misses fill a small store of their own: it is soon full and
	// evicting, the steady state of a busy cache, rather than a heap
	// growing into fresh pages for the whole run.
	missCache, err := cache.New(cache.Config{MemoryBytes: 8 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { memCache.Close(); diskCache.Close(); missCache.Close() })

	var seq atomic.Int64 // unique URLs for misses
	cases := []struct {
		name   string
		client *http.Client
		url    func() string
	}{
		{"direct", benchClient(b, nil), func() string { return origin.URL + "/hot" }},
		{"ferry-nocache", benchProxy(b, nil), func() string { return origin.URL + "/hot" }},
		{"ferry-miss", benchProxy(b, missCache), func() string { return fmt.Sprintf("%s/miss/%d", origin.URL, seq.Add(1)) }},
		{"ferry-hit-memory", benchProxy(b, memCache), func() string { return origin.URL + "/hot" }},
		{"ferry-hit-disk", benchProxy(b, diskCache), func() string { return origin.URL + "/hot" }},
	}
	for _, mode := range []string{"seq", "par"} {
		for _, c := range cases {
			b.Run(mode+"/"+c.name, func(b *testing.B) {
				benchGet(b, c.client, c.url(), size) // warm: the hit cases store here
				diskCache.Sync()
				before := originHits.Load()
				b.SetBytes(size)
				b.ReportAllocs()
				b.ResetTimer()
				if mode == "seq" {
					for b.Loop() {
						benchGet(b, c.client, c.url(), size)
					}
				} else {
					b.SetParallelism(4) // 4 × GOMAXPROCS clients
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							benchGet(b, c.client, c.url(), size)
						}
					})
				}
				b.StopTimer()
				b.ReportMetric(float64(originHits.Load()-before)/float64(b.N), "origin-reqs/op")
			})
		}
	}
}
