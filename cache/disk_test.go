package cache

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// versioned answers with a body naming the request number, so a stale or
// corrupt copy served by mistake is told apart from a fresh one.
func versioned(size int, fields ...string) originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		w.Header().Set("Date", date(now))
		for i := 0; i+1 < len(fields); i += 2 {
			w.Header().Set(fields[i], fields[i+1])
		}
		head := fmt.Sprintf("v%d:", n)
		fmt.Fprint(w, head+strings.Repeat("x", size-len(head)))
	}
}

// entryFiles lists the committed entry files under dir.
func entryFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "??", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func tmpFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "tmp", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestDiskSurvivesRestart: entries written by one Cache are served by the
// next one opened on the same directory, without asking the origin, and a
// stale one is revalidated from its stored validator.
func TestDiskSurvivesRestart(t *testing.T) {
	for _, store := range []string{"disk", "both"} {
		t.Run(store, func(t *testing.T) {
			cfg := storeConfig(t, store)
			w := newWorld(t, cfg, validating("max-age=60", "max-age=60"))
			if r := w.do("GET", "/r", nil); cacheStatus(r.header) != "fwd=uri-miss; fwd-status=200; stored" {
				t.Fatalf("first request: %q", cacheStatus(r.header))
			}
			w.open(cfg) // restart
			if s := w.cache.Stats(); s.DiskObjects != 1 || s.MemoryObjects != 0 {
				t.Fatalf("after restart: %+v, want 1 disk object and an empty memory store", s)
			}
			w.clk.advance(30 * time.Second)
			r := w.do("GET", "/r", nil)
			if cacheStatus(r.header) != "hit; ttl=30" || r.body != "body-v1" || r.header.Get("Age") != "30" {
				t.Fatalf("after restart: %q %q Age %q", cacheStatus(r.header), r.body, r.header.Get("Age"))
			}
			w.open(cfg) // and again, now stale
			w.clk.advance(time.Minute)
			r = w.do("GET", "/r", nil)
			if cacheStatus(r.header) != "fwd=stale; fwd-status=304" || r.body != "body-v1" || r.header.Get("X-Version") != "2" {
				t.Fatalf("stale after restart: %q %q X-Version %q", cacheStatus(r.header), r.body, r.header.Get("X-Version"))
			}
			w.open(cfg) // the 304's merge was written to disk too
			r = w.do("GET", "/r", nil)
			if cacheStatus(r.header) != "hit; ttl=60" || r.header.Get("X-Version") != "2" {
				t.Fatalf("after the update and a restart: %q X-Version %q", cacheStatus(r.header), r.header.Get("X-Version"))
			}
			if got := w.originHits(); got != 2 {
				t.Fatalf("origin saw %d requests, want 2", got)
			}
		})
	}
}

// TestDiskCrashSafety: an entry damaged while ferry was down (a torn
// write, flipped bits, a leftover temp file) is detected and dropped, and
// its content never reaches a client.
func TestDiskCrashSafety(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		damage func(t *testing.T, path string)
	}{
		{"torn: cut in the body", 20000, func(t *testing.T, p string) { truncate(t, p, 10000) }},
		{"torn: cut in the meta", 20000, func(t *testing.T, p string) { truncate(t, p, headLen+10) }},
		{"torn: empty file", 20000, func(t *testing.T, p string) { truncate(t, p, 0) }},
		{"torn: trailer lost", 20000, func(t *testing.T, p string) { truncate(t, p, fileSize(t, p)-trailerLen) }},
		{"flipped bit in a large body", 200000, func(t *testing.T, p string) { flip(t, p, fileSize(t, p)-trailerLen-100) }},
		{"flipped bit in a small body", 2000, func(t *testing.T, p string) { flip(t, p, fileSize(t, p)-trailerLen-100) }},
		{"flipped bit in the meta", 2000, func(t *testing.T, p string) { flip(t, p, headLen+20) }},
		{"flipped bit in the magic", 2000, func(t *testing.T, p string) { flip(t, p, 0) }},
		{"flipped bit in the trailer", 2000, func(t *testing.T, p string) { flip(t, p, fileSize(t, p)-2) }},
		{"another entry's file under this name", 2000, func(t *testing.T, p string) {
			other := filepath.Join(filepath.Dir(filepath.Dir(p)), "ff", "ff"+strings.Repeat("0", 30))
			os.MkdirAll(filepath.Dir(other), 0o700)
			if err := os.Rename(p, other); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, store := range []string{"disk", "both"} {
		for _, tt := range tests {
			t.Run(store+"/"+tt.name, func(t *testing.T) {
				cfg := storeConfig(t, store)
				cfg.MemoryBytes = min(cfg.MemoryBytes, 1<<20) // 200 KB bodies stay out of memory
				w := newWorld(t, cfg, versioned(tt.size, "Cache-Control", "max-age=600"))
				if r := w.do("GET", "/r", nil); !strings.HasPrefix(r.body, "v1:") {
					t.Fatalf("first body %.10q", r.body)
				}
				files := entryFiles(t, cfg.DiskDir)
				if len(files) != 1 {
					t.Fatalf("%d entry files, want 1", len(files))
				}
				w.cache.Close()
				tt.damage(t, files[0])
				// A write cut short by a crash leaves a temp file behind.
				if err := os.WriteFile(filepath.Join(cfg.DiskDir, "tmp", "fill-123"), []byte("ferryc1\npartial"), 0o600); err != nil {
					t.Fatal(err)
				}
				w.open(cfg)
				if tmp := tmpFiles(t, cfg.DiskDir); len(tmp) != 0 {
					t.Errorf("temp files left after start: %v", tmp)
				}
				r := w.do("GET", "/r", nil)
				if !strings.HasPrefix(r.body, "v2:") || len(r.body) != tt.size {
					t.Fatalf("served %.10q (%d bytes), want the origin's v2", r.body, len(r.body))
				}
				if cacheStatus(r.header) != "fwd=uri-miss; fwd-status=200; stored" {
					t.Errorf("Cache-Status %q", cacheStatus(r.header))
				}
				if got := w.originHits(); got != 2 {
					t.Errorf("origin saw %d requests, want 2", got)
				}
				w.mu.Lock()
				errs := w.errors
				w.mu.Unlock()
				if len(errs) == 0 {
					t.Errorf("the damage was not reported")
				}
				// The good copy is what is stored now, and the damaged file is gone.
				if r := w.do("GET", "/r", nil); !strings.HasPrefix(r.body, "v2:") || !strings.HasPrefix(cacheStatus(r.header), "hit") {
					t.Errorf("then %q %.10q, want a hit on v2", cacheStatus(r.header), r.body)
				}
				if files := entryFiles(t, cfg.DiskDir); len(files) != 1 {
					t.Errorf("entry files %v, want the one good entry", files)
				}
			})
		}
	}
}

func fileSize(t *testing.T, p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func truncate(t *testing.T, p string, n int64) {
	if err := os.Truncate(p, n); err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, p string, off int64) {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestBudgets: each store stays within its byte budget, least recently
// used out first, and bodies over max_object_size are never stored.
func TestBudgets(t *testing.T) {
	t.Run("disk", func(t *testing.T) {
		cfg := Config{DiskDir: t.TempDir(), DiskBytes: 35000}
		w := newWorld(t, cfg, versioned(10000, "Cache-Control", "max-age=600"))
		for i := range 5 {
			w.do("GET", fmt.Sprintf("/%d", i), nil)
		}
		s := w.cache.Stats()
		if s.DiskObjects != 3 || s.DiskBytes > cfg.DiskBytes {
			t.Fatalf("%+v, want 3 objects within %d bytes", s, cfg.DiskBytes)
		}
		if files := entryFiles(t, cfg.DiskDir); len(files) != 3 {
			t.Fatalf("%d files on disk, want 3", len(files))
		}
		if r := w.do("GET", "/4", nil); !strings.HasPrefix(cacheStatus(r.header), "hit") {
			t.Errorf("newest: %q, want a hit", cacheStatus(r.header))
		}
		if r := w.do("GET", "/0", nil); !strings.HasPrefix(cacheStatus(r.header), "fwd=uri-miss") {
			t.Errorf("oldest: %q, want evicted", cacheStatus(r.header))
		}
		w.open(cfg) // the budget holds when the index is rebuilt too
		if s := w.cache.Stats(); s.DiskObjects != 3 || s.DiskBytes > cfg.DiskBytes {
			t.Fatalf("after restart: %+v", s)
		}
	})
	t.Run("memory", func(t *testing.T) {
		cfg := Config{MemoryBytes: 100000}
		w := newWorld(t, cfg, versioned(10000, "Cache-Control", "max-age=600"))
		for i := range 20 {
			w.do("GET", fmt.Sprintf("/%d", i), nil)
		}
		s := w.cache.Stats()
		if s.MemoryBytes > cfg.MemoryBytes || s.MemoryObjects < 5 || s.MemoryObjects > 10 {
			t.Fatalf("%+v, want 5..10 objects within %d bytes", s, cfg.MemoryBytes)
		}
		if r := w.do("GET", "/0", nil); !strings.HasPrefix(cacheStatus(r.header), "fwd=uri-miss") {
			t.Errorf("oldest: %q, want evicted", cacheStatus(r.header))
		}
	})
	for _, length := range []string{"known", "chunked"} {
		t.Run("max object size, "+length+" length", func(t *testing.T) {
			cfg := Config{MemoryBytes: 1 << 20, DiskDir: t.TempDir(), DiskBytes: 1 << 20, MaxObjectSize: 5000}
			origin := func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
				w.Header().Set("Cache-Control", "max-age=600")
				body := strings.Repeat("z", 8000)
				if length == "chunked" {
					fmt.Fprint(w, body[:4000])
					w.(http.Flusher).Flush()
					fmt.Fprint(w, body[4000:])
					return
				}
				w.Header().Set("Content-Length", "8000")
				fmt.Fprint(w, body)
			}
			w := newWorld(t, cfg, origin)
			for i := 1; i <= 2; i++ {
				r := w.do("GET", "/big", nil)
				if len(r.body) != 8000 {
					t.Fatalf("request %d: client got %d bytes, want all 8000", i, len(r.body))
				}
				if got := w.lastReport(); got != "fwd=uri-miss; fwd-status=200" {
					t.Errorf("request %d: reported %q, want not stored", i, got)
				}
			}
			if s := w.cache.Stats(); s.MemoryObjects+s.DiskObjects != 0 {
				t.Errorf("stored: %+v", s)
			}
			if tmp := tmpFiles(t, cfg.DiskDir); len(tmp) != 0 {
				t.Errorf("temp files left: %v", tmp)
			}
		})
	}
}

// TestDiskDirClaim: the disk store takes a new or empty directory, or one
// an earlier run marked, and refuses one with other files in it.
func TestDiskDirClaim(t *testing.T) {
	root := t.TempDir()
	fresh := filepath.Join(root, "new", "cache")
	if _, err := New(Config{DiskDir: fresh, DiskBytes: 1 << 20}); err != nil {
		t.Fatalf("new directory: %v", err)
	}
	if _, err := New(Config{DiskDir: fresh, DiskBytes: 1 << 20}); err != nil {
		t.Fatalf("marked directory: %v", err)
	}
	foreign := filepath.Join(root, "home")
	os.MkdirAll(filepath.Join(foreign, "tmp"), 0o700)
	keep := filepath.Join(foreign, "tmp", "notes.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{DiskDir: foreign, DiskBytes: 1 << 20}); err == nil || !strings.Contains(err.Error(), "not a ferry cache directory") {
		t.Fatalf("foreign directory: %v, want refused", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("a file in the refused directory is gone: %v", err)
	}
}
