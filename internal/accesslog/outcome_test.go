package accesslog

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestOutcome(t *testing.T) {
	tests := []struct {
		name        string
		proto       string
		status      int
		proxyStatus string
		want        string
		denied      bool
	}{
		{"tunnel", "connect", 200, "", OutcomeOK, false},
		{"origin 404 is served", "http", 404, "", OutcomeOK, false},
		{"denied by name", "http", 403, "http_request_denied", "http_request_denied", true},
		{"denied by address", "socks5", 2, "destination_ip_prohibited", "destination_ip_prohibited", true},
		{"dns", "connect", 502, "dns_error", "dns_error", false},
		{"http 407", "connect", 407, "", OutcomeAuthFailed, false},
		{"socks4 93", "socks4", 93, "", OutcomeAuthFailed, false},
		{"socks4 granted", "socks4", 90, "", OutcomeOK, false},
		{"socks5 rfc1929 failure", "socks5", 1, "", OutcomeAuthFailed, false},
		{"socks5 ok", "socks5", 0, "", OutcomeOK, false},
		{"reverse", "tls", 0, "", OutcomeOK, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Record{Proto: tt.proto, Status: tt.status, ProxyStatus: tt.proxyStatus}
			if got := r.Outcome(); got != tt.want {
				t.Errorf("Outcome() = %q, want %q", got, tt.want)
			}
			if got := r.Denied(); got != tt.denied {
				t.Errorf("Denied() = %v, want %v", got, tt.denied)
			}
		})
	}
}

func TestCacheResult(t *testing.T) {
	tests := []struct{ cache, want string }{
		{"", CacheNone},
		{"hit; ttl=60", CacheHit},
		{"fwd=uri-miss; fwd-status=200; stored", CacheMiss},
		{"fwd=vary-miss; fwd-status=200", CacheMiss},
		{"fwd=request; fwd-status=200", CacheMiss},
		{"fwd=stale; fwd-status=304", CacheRevalidated},
		{"fwd=stale; fwd-status=200; stored", CacheRefreshed},
		{"fwd=stale; fwd-status=503; detail=stale-if-error", CacheStale},
		{"fwd=stale; detail=origin-unreachable", CacheStale},
		{"fwd=partial; fwd-status=206; stored", CacheMiss},
		{"fwd=bypass", CacheBypass},
		{"fwd=method", CacheBypass},
		{"purged=3", CacheOther},
	}
	for _, tt := range tests {
		t.Run(tt.cache, func(t *testing.T) {
			if got := (&Record{Cache: tt.cache}).CacheResult(); got != tt.want {
				t.Errorf("CacheResult(%q) = %q, want %q", tt.cache, got, tt.want)
			}
		})
	}
}

func TestTee(t *testing.T) {
	a, b := &countSink{}, &countSink{}
	Start(Tee{a, b}, "http", netip.AddrPort{}).Finish()
	if a.n != 1 || b.n != 1 {
		t.Errorf("sinks written %d and %d times, want 1 each", a.n, b.n)
	}
}

// Lines written while the file is renamed and reopened all land whole in
// one of the two files.
func TestFileReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	f, err := OpenFile(path, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	const writers, lines = 4, 500
	line := strings.Repeat("x", 100) + "\n"
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range writers {
		wg.Go(func() {
			<-start
			for range lines {
				if _, err := f.Write([]byte(line)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	close(start)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	total := 0
	for _, p := range []string{path, path + ".1"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.SplitAfter(string(b), "\n") {
			if l != "" && l != line {
				t.Fatalf("%s has a torn line %q", p, l)
			}
		}
		total += strings.Count(string(b), "\n")
	}
	if total != writers*lines {
		t.Errorf("%d lines across both files, want %d", total, writers*lines)
	}
	// A path that cannot be opened leaves the old file in use.
	os.Remove(path)
	os.Mkdir(path, 0o700)
	if err := f.Reopen(); err == nil {
		t.Error("Reopen onto a directory succeeded")
	}
	if _, err := f.Write([]byte(line)); err != nil {
		t.Errorf("write after a failed reopen: %v", err)
	}
}
