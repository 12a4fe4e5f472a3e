package accesslog

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// statusOf is a stand-in for tunnel's table in these tests (cmd/ferry
// passes the real one; tunnel's tests check that every error type maps).
func statusOf(ps string) int {
	return map[string]int{"dns_error": 502, "connection_timeout": 504, "http_request_denied": 403}[ps]
}

var squidEnd = time.Unix(1700000000, 123_000_000)

func rec(mod func(r *Record)) *Record {
	r := &Record{
		Start:  squidEnd.Add(-1500 * time.Millisecond),
		Client: netip.MustParseAddrPort("192.0.2.7:40000"),
	}
	mod(r)
	return r
}

func TestSquidLine(t *testing.T) {
	tests := []struct {
		name string
		r    *Record
		want string
	}{
		{"connect tunnel", rec(func(r *Record) {
			r.Proto, r.Method, r.Target, r.Status, r.Dialed, r.BytesDown = "connect", "CONNECT", "example.com:443", 200, "93.184.216.34:443", 5120
		}), "1700000000.123   1500 192.0.2.7 TCP_TUNNEL/200 5120 CONNECT example.com:443 - HIER_DIRECT/93.184.216.34 -"},
		{"plain http miss", rec(func(r *Record) {
			r.Proto, r.Method, r.URL, r.Target, r.Status, r.Dialed, r.BytesDown = "http", "GET", "http://example.com/a?b=c", "example.com:80", 200, "[2001:db8::1]:80", 1234
			r.User = "alice"
		}), "1700000000.123   1500 192.0.2.7 TCP_MISS/200 1234 GET http://example.com/a?b=c alice HIER_DIRECT/2001:db8::1 -"},
		{"cache hit", rec(func(r *Record) {
			r.Proto, r.Method, r.URL, r.Status, r.Cache, r.BytesDown = "http", "GET", "http://example.com/", 200, "hit; ttl=60", 10
		}), "1700000000.123   1500 192.0.2.7 TCP_HIT/200 10 GET http://example.com/ - HIER_NONE/- -"},
		{"revalidated", rec(func(r *Record) {
			r.Proto, r.Method, r.URL, r.Status, r.Cache, r.Dialed = "http", "GET", "http://example.com/", 200, "fwd=stale; fwd-status=304", "192.0.2.1:80"
		}), "1700000000.123   1500 192.0.2.7 TCP_REFRESH_UNMODIFIED/200 0 GET http://example.com/ - HIER_DIRECT/192.0.2.1 -"},
		{"denied connect", rec(func(r *Record) {
			r.Proto, r.Method, r.Target, r.Status, r.ProxyStatus, r.BytesDown = "connect", "CONNECT", "blocked.example:443", 403, "http_request_denied", 90
		}), "1700000000.123   1500 192.0.2.7 TCP_DENIED/403 90 CONNECT blocked.example:443 - HIER_NONE/- -"},
		{"proxy auth required", rec(func(r *Record) {
			r.Proto, r.Method, r.URL, r.Status = "http", "GET", "http://example.com/", 407
		}), "1700000000.123   1500 192.0.2.7 TCP_DENIED/407 0 GET http://example.com/ - HIER_NONE/- -"},
		{"socks5 tunnel", rec(func(r *Record) {
			r.Proto, r.Method, r.Target, r.Status, r.Dialed, r.BytesDown = "socks5", "CONNECT", "example.com:22", 0, "192.0.2.1:22", 7
		}), "1700000000.123   1500 192.0.2.7 TCP_TUNNEL/200 7 CONNECT example.com:22 - HIER_DIRECT/192.0.2.1 -"},
		{"socks5 dns failure", rec(func(r *Record) {
			r.Proto, r.Method, r.Target, r.Status, r.ProxyStatus = "socks5", "CONNECT", "nx.example:22", 4, "dns_error"
		}), "1700000000.123   1500 192.0.2.7 TCP_TUNNEL/502 0 CONNECT nx.example:22 - HIER_NONE/- -"},
		{"connect refused", rec(func(r *Record) {
			r.Proto, r.Method, r.Target, r.Status, r.ProxyStatus, r.Dialed, r.DialFailed = "connect", "CONNECT", "example.com:443", 502, "connection_refused", "192.0.2.1:443", true
		}), "1700000000.123   1500 192.0.2.7 TCP_TUNNEL/502 0 CONNECT example.com:443 - HIER_NONE/- -"},
		{"socks5 auth failure", rec(func(r *Record) {
			r.Proto, r.Method, r.Status = "socks5", "AUTH", 1
		}), "1700000000.123   1500 192.0.2.7 TCP_DENIED/407 0 CONNECT - - HIER_NONE/- -"},
		{"socks4 bind refused", rec(func(r *Record) {
			r.Proto, r.Method, r.Target, r.Status, r.ProxyStatus = "socks4", "BIND", "192.0.2.1:21", 91, "http_request_error"
		}), "1700000000.123   1500 192.0.2.7 NONE_NONE/500 0 CONNECT 192.0.2.1:21 - HIER_NONE/- -"},
		{"hostile socks name", rec(func(r *Record) {
			r.Proto, r.Target, r.Status, r.ProxyStatus, r.User = "socks5", "a b\n\xffc:80", 1, "http_request_error", "x y"
			r.Client = netip.AddrPort{}
		}), "1700000000.123   1500 - NONE_NONE/500 0 CONNECT a%20b%0A%FFc:80 x%20y HIER_NONE/- -"},
		{"upstream", rec(func(r *Record) {
			r.Proto, r.Method, r.Target, r.Status, r.Upstream, r.Dialed = "connect", "CONNECT", "example.com:443", 200, "parent1", "192.0.2.9:3128"
		}), "1700000000.123   1500 192.0.2.7 TCP_TUNNEL/200 0 CONNECT example.com:443 - FIRST_UP_PARENT/parent1 -"},
		{"no response sent", rec(func(r *Record) {
			r.Proto, r.Method, r.URL, r.Err = "http", "GET", "http://example.com/", errors.New("client went away")
			r.Client = netip.MustParseAddrPort("[::ffff:10.0.0.1]:1")
		}), "1700000000.123   1500 10.0.0.1 TCP_MISS/000 0 GET http://example.com/ - HIER_NONE/- -"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendSquid(nil, tt.r, squidEnd, statusOf))
			if got != tt.want+"\n" {
				t.Errorf("got  %q\nwant %q", got, tt.want+"\n")
			}
		})
	}
}

// Squid.Write writes whole lines, one Write call each.
func TestSquidWrite(t *testing.T) {
	var w countingWriter
	s := &Squid{W: &w, HTTPStatus: statusOf}
	for range 3 {
		r := Start(s, "connect", netip.MustParseAddrPort("127.0.0.1:1"))
		r.Target, r.Status = "a:1", 200
		r.Finish()
	}
	if w.calls != 3 || strings.Count(w.buf.String(), "\n") != 3 {
		t.Errorf("%d writes of %q, want 3 lines in 3 writes", w.calls, w.buf.String())
	}
}

type countingWriter struct {
	buf   bytes.Buffer
	calls int
}

func (w *countingWriter) Write(p []byte) (int, error) { w.calls++; return w.buf.Write(p) }

// Whatever a client put in a record, the line is one line of exactly ten
// space-separated, non-empty fields, so an analyser never mis-splits it.
func FuzzSquidLine(f *testing.F) {
	f.Add("connect", "CONNECT", "example.com:443", "", "", "", "", 200)
	f.Add("socks5", "", "a b\n:1", "", "x y", "", "hit", 0)
	f.Add("http", "GET", "", "http://h/ x", "", "1.2.3.4:5", "fwd=stale; fwd-status=304", 304)
	f.Fuzz(func(t *testing.T, proto, method, target, url, user, dialed, cache string, status int) {
		r := &Record{Proto: proto, Method: method, Target: target, URL: url, User: user, Dialed: dialed, Cache: cache,
			Status: status, Start: squidEnd.Add(-time.Second), BytesDown: int64(status)}
		line := string(AppendSquid(nil, r, squidEnd, statusOf))
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Fatalf("not one line: %q", line)
		}
		fields := strings.Split(strings.TrimSuffix(line, "\n"), " ")
		var nonEmpty []string
		for _, f := range fields {
			if f != "" {
				nonEmpty = append(nonEmpty, f)
			}
		}
		if len(nonEmpty) != 10 {
			t.Fatalf("%d fields in %q", len(nonEmpty), line)
		}
		code, st, ok := strings.Cut(nonEmpty[3], "/")
		if !ok || code == "" || len(st) != 3 {
			t.Fatalf("code/status field %q", nonEmpty[3])
		}
	})
}
