package cache

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkObjectMemory stores b.N distinct 10 KiB responses (with a
// typical header) through the Transport and reports the Go heap they take
// per object, the part of it that is not body, and the bytes per object on
// disk beyond the body.
func BenchmarkObjectMemory(b *testing.B) {
	const size = 10 << 10
	body := strings.Repeat("m", size)
	origin := func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		h := w.Header()
		h.Set("Date", date(now))
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("ETag", fmt.Sprintf(`"%x-2800"`, n))
		h.Set("Last-Modified", date(now.Add(-time.Hour)))
		h.Set("Content-Type", "application/vnd.debian.binary-package")
		h.Set("Server", "nginx")
		if n%2 == 0 {
			// Half the responses come chunked, of unknown length.
			h.Set("Content-Length", fmt.Sprint(size))
		}
		io.WriteString(w, body)
	}
	for _, store := range []string{"memory", "disk"} {
		b.Run(store, func(b *testing.B) {
			cfg := Config{MemoryBytes: 4 << 30}
			if store == "disk" {
				cfg = Config{DiskDir: b.TempDir(), DiskBytes: 4 << 30}
			}
			w := newWorld(b, cfg, origin)
			paths := make([]string, b.N)
			for i := range paths {
				paths[i] = fmt.Sprintf("/pool/main/p/pkg%d/pkg%d_1.%d-1_amd64.deb", i, i, i)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if r := w.do("GET", paths[i], nil); r.err != nil || len(r.body) != size {
					b.Fatalf("%d bytes, %v", len(r.body), r.err)
				}
			}
			b.StopTimer()
			w.settle()
			runtime.GC()
			runtime.ReadMemStats(&after)
			s := w.cache.Stats()
			if store == "memory" {
				if s.MemoryObjects != b.N {
					b.Fatalf("%d objects stored, want %d", s.MemoryObjects, b.N)
				}
				heap := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(b.N)
				b.ReportMetric(heap, "heap-B/object")
				b.ReportMetric(heap-size, "overhead-B/object")
				b.ReportMetric(float64(s.MemoryBytes)/float64(b.N), "charged-B/object")
			} else {
				if s.DiskObjects != b.N {
					b.Fatalf("%d objects stored, want %d", s.DiskObjects, b.N)
				}
				b.ReportMetric(float64(s.DiskBytes)/float64(b.N)-size, "disk-overhead-B/object")
				heap := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(b.N)
				b.ReportMetric(heap, "index-heap-B/object")
			}
			runtime.KeepAlive(paths)
		})
	}
}
