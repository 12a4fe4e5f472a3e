package cache

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitLimit bounds every wait in these tests: a broken cache fails them,
// it does not hang them.
const waitLimit = 10 * time.Second

// gate holds an origin handler until the test opens it (at the latest at
// cleanup, before the origin closes).
type gate struct {
	ch      chan struct{}
	once    sync.Once
	arrived chan struct{} // the held request has reached the origin
}

// gate returns a gate the world opens before its origin closes.
func (w *world) gate() *gate {
	g := &gate{ch: make(chan struct{}), arrived: make(chan struct{}, 1)}
	w.gates = append(w.gates, g)
	return g
}

// held is a world whose origin is heldOrigin(g, fields...).
func held(t testing.TB, cfg Config, fields ...string) (*world, *gate) {
	w := newWorld(t, cfg, nil)
	g := w.gate()
	w.handler = heldOrigin(g, fields...)
	return w, g
}

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

func (g *gate) wait() bool {
	g.arrived <- struct{}{}
	select {
	case <-g.ch:
		return true
	case <-time.After(waitLimit):
		return false
	}
}

// within receives from ch or fails the test after waitLimit.
func within[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

const (
	bigSize   = 256 << 10
	firstPart = 64 << 10
)

// heldOrigin sends a bigSize body with its Content-Length: the first
// firstPart bytes at once, the rest when g opens. Later requests are
// answered at once.
func heldOrigin(g *gate, fields ...string) originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		w.Header().Set("Date", date(now))
		w.Header().Set("Content-Length", fmt.Sprint(bigSize))
		for i := 0; i+1 < len(fields); i += 2 {
			w.Header().Set(fields[i], fields[i+1])
		}
		body := strings.Repeat(fmt.Sprintf("%d", n%10), bigSize)
		io.WriteString(w, body[:firstPart])
		w.(http.Flusher).Flush()
		if n == 1 && !g.wait() {
			return
		}
		io.WriteString(w, body[firstPart:])
	}
}

func get(t testing.TB, w *world, path string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", w.origin.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := w.tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// readFirst reads n bytes of body on a goroutine, failing the test if they
// do not come while the origin still holds the rest back.
func readFirst(t *testing.T, body io.Reader, n int) []byte {
	t.Helper()
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, n)
		k, _ := io.ReadFull(body, b)
		got <- b[:k]
	}()
	b := within(t, got, "the first bytes while the origin holds the rest")
	if len(b) != n {
		t.Fatalf("read %d bytes, want %d", len(b), n)
	}
	return b
}

// TestStreamsWhileStoring: the client gets the first bytes of a large
// response while the origin has not sent the rest yet, and the response is
// stored when it ends.
func TestStreamsWhileStoring(t *testing.T) {
	for _, store := range []string{"memory", "disk", "both"} {
		t.Run(store, func(t *testing.T) {
			w, g := held(t, storeConfig(t, store), "Cache-Control", "max-age=60")
			resp := get(t, w, "/big")
			readFirst(t, resp.Body, firstPart)
			g.open()
			rest, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || firstPart+len(rest) != bigSize {
				t.Fatalf("rest: %d bytes, %v", len(rest), err)
			}
			w.settle()
			r := w.do("GET", "/big", nil)
			if cacheStatus(r.header) != "hit; ttl=60" || len(r.body) != bigSize || r.body != strings.Repeat("1", bigSize) {
				t.Fatalf("second request: %q, %d bytes", cacheStatus(r.header), len(r.body))
			}
		})
	}
}

// TestAbortMidway: a client that goes away, or an origin that breaks off,
// midway leaves nothing stored and no temp file behind.
func TestAbortMidway(t *testing.T) {
	for _, store := range []string{"memory", "disk", "both"} {
		t.Run(store+"/client closes", func(t *testing.T) {
			cfg := storeConfig(t, store)
			w, g := held(t, cfg, "Cache-Control", "max-age=60")
			resp := get(t, w, "/big")
			readFirst(t, resp.Body, firstPart)
			resp.Body.Close()
			g.open()
			w.settle()
			checkNothingStored(t, w, cfg)
			if got := w.lastReport(); got != "fwd=uri-miss; fwd-status=200" {
				t.Errorf("reported %q, want stored dropped", got)
			}
		})
		t.Run(store+"/origin breaks off", func(t *testing.T) {
			cfg := storeConfig(t, store)
			w := newWorld(t, cfg, func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Content-Length", fmt.Sprint(bigSize))
				io.WriteString(w, strings.Repeat("b", firstPart))
				w.(http.Flusher).Flush()
				c, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					c.Close()
				}
			})
			r := w.do("GET", "/big", nil)
			if r.err == nil || len(r.body) != firstPart {
				t.Fatalf("client got %d bytes and %v, want the part and an error", len(r.body), r.err)
			}
			checkNothingStored(t, w, cfg)
		})
	}
}

func checkNothingStored(t *testing.T, w *world, cfg Config) {
	t.Helper()
	if s := w.cache.Stats(); s.MemoryObjects+s.DiskObjects != 0 {
		t.Errorf("stored: %+v", s)
	}
	if cfg.DiskDir != "" {
		if tmp := tmpFiles(t, cfg.DiskDir); len(tmp) != 0 {
			t.Errorf("temp files left: %v", tmp)
		}
		if files := entryFiles(t, cfg.DiskDir); len(files) != 0 {
			t.Errorf("entry files: %v", files)
		}
	}
}
