package connect

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkForward1KiB is the plain-proxy path of ferry-bench's http
// figure: a 1 KiB GET over keep-alive, 64 clients at once (on 2 cores),
// straight to the origin (the baseline) and through ferry without a cache.
// Quote the ratio of the two ns/op figures of one run, and ferry's
// allocs/op less the direct ones as what the proxy adds.
func BenchmarkForward1KiB(b *testing.B) {
	const size = 1 << 10
	body := strings.Repeat("x", size)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		io.WriteString(w, body)
	}))
	b.Cleanup(origin.Close)
	cases := []struct {
		name   string
		client *http.Client
	}{
		{"direct", benchClient(b, nil)},
		{"ferry", benchProxy(b, nil)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			u := origin.URL + "/1k"
			benchGet(b, c.client, u, size)
			b.SetBytes(size)
			b.ReportAllocs()
			b.SetParallelism(32) // 32 × GOMAXPROCS clients
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					benchGet(b, c.client, u, size)
				}
			})
		})
	}
}
