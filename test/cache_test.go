package test

// End-to-end tests of the HTTP cache through the real binary, driven with
// curl. The shared harness (TestMain, startFerry) lives on another branch;
// until it is merged this file carries a minimal one of its own, every
// name prefixed "cache" so the two can sit side by side.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const cacheWait = 20 * time.Second // any single wait on the binary

// cacheFerry is one running ferry binary.
type cacheFerry struct {
	t       *testing.T
	cmd     *exec.Cmd
	addr    string
	events  chan map[string]any // access events, in order
	exited  chan error
	stopped bool
}

// cacheBuild builds ./cmd/ferry into dir.
func cacheBuild(t *testing.T, dir string) string {
	bin := filepath.Join(dir, "ferry")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/ferry").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startCacheFerry runs bin with config and waits for its listening event.
func startCacheFerry(t *testing.T, bin, config string) *cacheFerry {
	path := filepath.Join(t.TempDir(), "ferry.toml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", path)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f := &cacheFerry{t: t, cmd: cmd, events: make(chan map[string]any, 100), exited: make(chan error, 1)}
	listening, events, exited := make(chan string, 1), f.events, f.exited
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			switch ev["message"] {
			case "listening":
				listening <- ev["addr"].(string)
			case "access":
				events <- ev
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(f.stop)
	select {
	case f.addr = <-listening:
	case err := <-f.exited:
		t.Fatalf("ferry exited before listening: %v", err)
	case <-time.After(cacheWait):
		t.Fatal("no listening event")
	}
	return f
}

// stop sends SIGTERM and waits for a clean exit; once is enough.
func (f *cacheFerry) stop() {
	if f.stopped {
		return
	}
	f.stopped = true
	f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-f.exited:
		if err != nil {
			f.t.Errorf("ferry exit: %v", err)
		}
	case <-time.After(cacheWait):
		f.cmd.Process.Kill()
		f.t.Error("ferry did not stop on SIGTERM")
	}
}

// access returns the next access event.
func (f *cacheFerry) access() map[string]any {
	select {
	case ev := <-f.events:
		return ev
	case <-time.After(cacheWait):
		f.t.Fatal("no access event")
		return nil
	}
}

// cacheCurl fetches url through the proxy with curl and returns the
// response head (status line and fields) and the body.
func cacheCurl(t *testing.T, proxy string, args ...string) (http.Header, int, string) {
	t.Helper()
	dir := t.TempDir()
	head, body := filepath.Join(dir, "head"), filepath.Join(dir, "body")
	all := append([]string{"-sS", "--max-time", "20", "-x", "http://" + proxy, "-D", head, "-o", body}, args...)
	if out, err := exec.Command("curl", all...).CombinedOutput(); err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, out)
	}
	raw, _ := os.ReadFile(head)
	b, _ := os.ReadFile(body)
	h := http.Header{}
	status := 0
	for i, line := range strings.Split(strings.TrimSpace(string(raw)), "\r\n") {
		if i == 0 {
			fmt.Sscanf(line, "HTTP/%s %d", new(string), &status)
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			h.Add(k, strings.TrimSpace(v))
		}
	}
	return h, status, string(b)
}

// TestCacheE2E runs the binary with a disk cache and drives it with curl:
// a miss then a hit with Cache-Status visible, the access log's cache
// field, a restart that keeps the disk store, and PURGE.
func TestCacheE2E(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	bin := cacheBuild(t, t.TempDir())

	var mu sync.Mutex
	hits := 0
	body := strings.Repeat("0123456789abcdef", 640) // 10 KiB
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("ETag", `"pkg-1"`)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(origin.Close)
	originHits := func() int {
		mu.Lock()
		defer mu.Unlock()
		return hits
	}
	url := origin.URL + "/pool/pkg_1.0.deb"
	config := fmt.Sprintf(minimalConfig+`
[cache]
enabled = true
disk_dir = %q
`, t.TempDir())

	f := startCacheFerry(t, bin, config)
	h, status, got := cacheCurl(t, f.addr, url)
	if status != 200 || got != body || h.Get("Cache-Status") != "ferry; fwd=uri-miss; fwd-status=200; stored" {
		t.Fatalf("first: %d, %d bytes, Cache-Status %q", status, len(got), h.Get("Cache-Status"))
	}
	if ev := f.access(); ev["cache"] != "fwd=uri-miss; fwd-status=200; stored" || ev["dialed"] == "" {
		t.Errorf("first logged cache=%v dialed=%v", ev["cache"], ev["dialed"])
	}
	h, status, got = cacheCurl(t, f.addr, url)
	if status != 200 || got != body || !strings.HasPrefix(h.Get("Cache-Status"), "ferry; hit; ttl=") || h.Get("Age") == "" {
		t.Fatalf("second: %d, %d bytes, Cache-Status %q, Age %q", status, len(got), h.Get("Cache-Status"), h.Get("Age"))
	}
	if ev := f.access(); !strings.HasPrefix(ev["cache"].(string), "hit; ttl=") || ev["dialed"] != "" {
		t.Errorf("second logged cache=%v dialed=%v, want a hit with nothing dialed", ev["cache"], ev["dialed"])
	}
	// A client's own validator gets a 304 from the cache.
	h, status, _ = cacheCurl(t, f.addr, "-H", `If-None-Match: "pkg-1"`, url)
	if status != 304 || !strings.HasPrefix(h.Get("Cache-Status"), "ferry; hit") {
		t.Errorf("conditional: %d, Cache-Status %q", status, h.Get("Cache-Status"))
	}
	f.access()

	// A restart keeps the disk store.
	{
		f.stop()
		f = startCacheFerry(t, bin, config)
		h, status, got := cacheCurl(t, f.addr, url)
		if status != 200 || got != body || !strings.HasPrefix(h.Get("Cache-Status"), "ferry; hit") {
			t.Fatalf("after restart: %d, %d bytes, Cache-Status %q", status, len(got), h.Get("Cache-Status"))
		}
		f.access()
		if n := originHits(); n != 1 {
			t.Errorf("origin saw %d requests, want 1", n)
		}
	}

	// PURGE from loopback removes the entry.
	{
		_, status, _ := cacheCurl(t, f.addr, "-X", "PURGE", url)
		if status != 200 {
			t.Fatalf("PURGE: %d", status)
		}
		if ev := f.access(); ev["method"] != "PURGE" || ev["cache"] != "purged=1" {
			t.Errorf("PURGE logged method=%v cache=%v", ev["method"], ev["cache"])
		}
		h, _, _ := cacheCurl(t, f.addr, url)
		if h.Get("Cache-Status") != "ferry; fwd=uri-miss; fwd-status=200; stored" {
			t.Errorf("after PURGE: Cache-Status %q", h.Get("Cache-Status"))
		}
		f.access()
		if n := originHits(); n != 2 {
			t.Errorf("origin saw %d requests, want 2", n)
		}
	}
}
