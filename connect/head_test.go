package connect

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/tunnel"
)

var headTests = []struct {
	name string
	in   string
	scan headScan
	rest int    // bytes after the head when one is complete
	host string // r.Host when the head parses; "" when parseConnect fails
	kind tunnel.Kind
}{
	{"empty", "", headIncomplete, 0, "", 0},
	{"method prefix", "CONN", headIncomplete, 0, "", 0},
	{"method and space", "CONNECT ", headIncomplete, 0, "", 0},
	{"request line only", "CONNECT a.test:443 HTTP/1.1\r\n", headIncomplete, 0, "", 0},
	{"HTTP/0.9 request line", "GET http://a.test/\r\n", headBadLine, 0, "", 0},
	{"CONNECT line without a version", "CONNECT a.test:443\n", headBadLine, 0, "", 0},
	{"HTTP/2.0 request line", "\r\nGET http://a.test/ HTTP/2.0\r\nHost: a", headBadLine, 0, "", 0},
	{"partial header", "CONNECT a.test:443 HTTP/1.1\r\nHost: a.te", headIncomplete, 0, "", 0},
	{"one CR short", "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r", headIncomplete, 0, "", 0},
	{"GET", "GET http://a.test/ HTTP/1.1\r\n\r\n", headOther, 0, "", 0},
	{"GET with body bytes", "POST http://a.test/ HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", headOther, 2, "", 0},
	{"short other", "GE", headIncomplete, 0, "", 0},
	{"SOCKS5 greeting", "\x05\x01\x00", headNotHTTP, 0, "", 0},
	{"TLS ClientHello", "\x16\x03\x01\x02\x00\x01", headNotHTTP, 0, "", 0},
	{"garbage line", "GARBAGE\r\n", headNotHTTP, 0, "", 0},
	{"leading space", " GET / HTTP/1.1\r\n\r\n", headNotHTTP, 0, "", 0},
	{"empty line first", "\r\nGET / HTTP/1.1\r\n\r\n", headOther, 0, "", 0}, // RFC 9112 §2.2: the reader skips it
	{"empty line, then a CONNECT", "\r\nCONNECT a.test:443 HTTP/1.1\r\n\r\n", headOther, 0, "", 0},
	{"five empty lines", "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n", headNotHTTP, 0, "", 0},
	{"other, no end yet", "GET http://a.test/ HTTP/1.1\r\nHost: a", headIncomplete, 0, "", 0},
	{"lowercase method", "connect a.test:443 HTTP/1.1\r\n\r\n", headOther, 0, "", 0},
	{"CONNECTX", "CONNECTX a.test:443 HTTP/1.1\r\n\r\n", headOther, 0, "", 0},
	{"minimal", "CONNECT a.test:443 HTTP/1.1\r\n\r\n", headConnect, 0, "a.test:443", 0},
	{"with headers", "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\nUser-Agent: t\r\n\r\n",
		headConnect, 0, "a.test:443", 0},
	{"bare LF", "CONNECT a.test:443 HTTP/1.1\nHost: a.test:443\n\n", headConnect, 0, "a.test:443", 0},
	{"pipelined bytes after the head", "CONNECT a.test:443 HTTP/1.1\r\n\r\n\x16\x03\x01\x02\x00",
		headConnect, 5, "a.test:443", 0},
	{"HTTP/1.0", "CONNECT a.test:443 HTTP/1.0\r\n\r\n", headConnect, 0, "a.test:443", 0},
	{"Content-Length 0", "CONNECT a.test:443 HTTP/1.1\r\nContent-Length: 0\r\n\r\n", headConnect, 0, "a.test:443", 0},
	{"Content-Length 1", "CONNECT a.test:443 HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", headConnect, 1, "", tunnel.BadRequest},
	{"IPv6 literal", "CONNECT [::1]:443 HTTP/1.1\r\n\r\n", headConnect, 0, "[::1]:443", 0},
	// The port is checked by tunnel.SplitTarget when the tunnel opens.
	{"missing port", "CONNECT a.test HTTP/1.1\r\n\r\n", headConnect, 0, "a.test", 0},
	{"absolute-form target", "CONNECT http://a.test:443/ HTTP/1.1\r\n\r\n", headConnect, 0, "", tunnel.BadRequest},
	{"origin-form target", "CONNECT / HTTP/1.1\r\nHost: a.test:443\r\n\r\n", headConnect, 0, "", tunnel.BadRequest},
	{"userinfo in target", "CONNECT u@a.test:443 HTTP/1.1\r\n\r\n", headConnect, 0, "", tunnel.BadRequest},
	{"no version", "CONNECT a.test:443\r\n\r\n", headConnect, 0, "", tunnel.BadRequest},
	{"HTTP/2.0", "CONNECT a.test:443 HTTP/2.0\r\n\r\n", headConnect, 0, "", tunnel.BadVersion},
	{"HTTP/9.9", "CONNECT a.test:443 HTTP/9.9\r\n\r\n", headConnect, 0, "", tunnel.BadVersion},
	{"two spaces", "CONNECT  a.test:443 HTTP/1.1\r\n\r\n", headConnect, 0, "", tunnel.BadRequest},
	{"space in header name", "CONNECT a.test:443 HTTP/1.1\r\nBad Name: x\r\n\r\n", headConnect, 0, "", tunnel.BadRequest},
	{"header without colon", "CONNECT a.test:443 HTTP/1.1\r\nnocolon\r\n\r\n", headConnect, 0, "", tunnel.BadRequest},
	{"two Host headers", "CONNECT a.test:443 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", headConnect, 0, "", tunnel.BadRequest},
	{"control byte in a value", "CONNECT a.test:443 HTTP/1.1\r\nX: a\x01b\r\n\r\n", headConnect, 0, "", tunnel.BadRequest},
}

func TestScanAndParseHead(t *testing.T) {
	for _, tt := range headTests {
		t.Run(tt.name, func(t *testing.T) {
			scan, n := scanHead([]byte(tt.in))
			want := 0
			if tt.scan != headIncomplete && tt.scan != headNotHTTP && tt.scan != headBadLine {
				want = len(tt.in) - tt.rest
			}
			if scan != tt.scan || n != want {
				t.Fatalf("scanHead = %d, %d; want %d, %d", scan, n, tt.scan, want)
			}
			if scan != headConnect {
				return
			}
			r, err := parseConnect([]byte(tt.in[:n]))
			if tt.host == "" {
				if err == nil || tunnel.KindOf(err) != tt.kind {
					t.Fatalf("parseConnect = %+v, %v; want a %v error", r, err, tt.kind)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseConnect: %v", err)
			}
			if r.Method != http.MethodConnect || r.Host != tt.host {
				t.Errorf("parsed %s %q, want CONNECT %q", r.Method, r.Host, tt.host)
			}
		})
	}
}

func TestParseConnectKeepAlive(t *testing.T) {
	tests := []struct {
		name, in string
		close    bool
	}{
		{"HTTP/1.1", "CONNECT a:1 HTTP/1.1\r\n\r\n", false},
		{"HTTP/1.1 close", "CONNECT a:1 HTTP/1.1\r\nConnection: close\r\n\r\n", true},
		{"HTTP/1.0", "CONNECT a:1 HTTP/1.0\r\n\r\n", true},
		{"HTTP/1.0 keep-alive", "CONNECT a:1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseConnect([]byte(tt.in))
			if err != nil || r.Close != tt.close {
				t.Fatalf("parseConnect: Close %v, %v; want %v", r != nil && r.Close, err, tt.close)
			}
		})
	}
}

// FuzzConnectHead: no panic; a head found is a prefix of the input that
// every shorter prefix leaves incomplete; a head parsed is a CONNECT to an
// authority-form target.
func FuzzConnectHead(f *testing.F) {
	for _, tt := range headTests {
		f.Add(tt.in)
	}
	f.Add("CONNECT a:1 HTTP/1.1\r\n" + strings.Repeat("X: y\r\n", 100) + "\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		b := []byte(in)
		scan, n := scanHead(b)
		if scan == headIncomplete || scan == headNotHTTP || scan == headBadLine {
			if n != 0 {
				t.Fatalf("scan %d with length %d", scan, n)
			}
			if scan == headNotHTTP && startsLikeRequest(b) {
				t.Fatalf("%q refused, though it starts like a request line", b)
			}
			if scan == headBadLine {
				line, ok := requestLine(b)
				if _, _, _, err := parseRequestLine(line); !ok || err == nil {
					t.Fatalf("%q refused for its request line %q", b, line)
				}
			}
			return
		}
		if scan == headOther {
			if bytes.HasPrefix(b, connectPrefix) || n > len(b) || headEnd(b[:n-1]) != 0 {
				t.Fatalf("other head of %d bytes in %q", n, b)
			}
			return
		}
		if n <= len(connectPrefix) || n > len(b) {
			t.Fatalf("head length %d of %d bytes", n, len(b))
		}
		if s, m := scanHead(b[:n]); s != headConnect || m != n {
			t.Fatalf("the head alone scans as %d, %d", s, m)
		}
		short, _ := scanHead(b[:n-1])
		r, err := parseConnect(b[:n])
		if short != headIncomplete && (short != headBadLine || err == nil) {
			t.Fatalf("the head one byte short scans as %d (its parse: %v)", short, err)
		}
		if err != nil {
			if k := tunnel.KindOf(err); k != tunnel.BadRequest && k != tunnel.BadVersion {
				t.Fatalf("error of kind %v: %v", tunnel.KindOf(err), err)
			}
			return
		}
		if r.Method != http.MethodConnect || r.Host == "" || strings.ContainsAny(r.RequestURI, "/?#@") {
			t.Fatalf("parsed %s %q (target %q)", r.Method, r.Host, r.RequestURI)
		}
	})
}
