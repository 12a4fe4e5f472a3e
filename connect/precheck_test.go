package connect

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
)

// precheckTests are first heads that are not CONNECTs: kind 0 is a head
// net/http serves (and the check must let through), any other the answer
// net/http would refuse it with.
var precheckTests = []struct {
	name, in string
	method   string
	kind     tunnel.Kind
}{
	{"absolute-form GET", "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", "GET", 0},
	{"origin-form GET", "GET / HTTP/1.1\r\nHost: ferry\r\n\r\n", "GET", 0},
	{"HTTP/1.0 without Host", "GET http://a.test/ HTTP/1.0\r\n\r\n", "GET", 0},
	{"bare LF", "GET http://a.test/ HTTP/1.1\nHost: a.test\n\n", "GET", 0},
	{"chunked body", "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n", "POST", 0},
	{"Content-Length", "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\n", "POST", 0},
	{"two equal Content-Lengths", "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", "POST", 0},
	{"gzip coding on HTTP/1.0 is ignored", "POST http://a.test/ HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n", "POST", 0},
	{"h2c prior knowledge preface", "PRI * HTTP/2.0\r\n\r\n", "PRI", 0},
	{"lowercase connect", "connect a.test:443 HTTP/1.1\r\nHost: a.test\r\n\r\n", "connect", 0},

	{"garbage request line", "GARBAGE\r\n\r\n", "", tunnel.BadRequest},
	{"empty request line", "\r\n\r\n", "", tunnel.BadRequest},
	{"two spaces", "GET  http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", "GET", tunnel.BadRequest},
	{"bad URL", "GET http://a b/ HTTP/1.1\r\nHost: a.test\r\n\r\n", "GET", tunnel.BadRequest},
	{"header line without colon", "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nnocolon\r\n\r\n", "GET", tunnel.BadRequest},
	{"space in header name", "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nBad Name: x\r\n\r\n", "GET", tunnel.BadRequest},
	{"control byte in a value", "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nX: a\x01b\r\n\r\n", "GET", tunnel.BadRequest},
	{"missing Host", "GET http://a.test/ HTTP/1.1\r\n\r\n", "GET", tunnel.BadRequest},
	{"two Host headers", "GET http://a.test/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "GET", tunnel.BadRequest},
	{"malformed Host", "GET http://a.test/ HTTP/1.1\r\nHost: a b\r\n\r\n", "GET", tunnel.BadRequest},
	{"bad Content-Length", "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5x\r\n\r\n", "POST", tunnel.BadRequest},
	{"negative Content-Length", "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: -1\r\n\r\n", "POST", tunnel.BadRequest},
	{"differing Content-Lengths", "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "POST", tunnel.BadRequest},
	{"gzip coding", "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip\r\n\r\n", "POST", tunnel.BadCoding},
	{"two codings", "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "POST", tunnel.BadCoding},
	{"HTTP/9.9", "GET http://a.test/ HTTP/9.9\r\nHost: a.test\r\n\r\n", "GET", tunnel.BadVersion},
	{"HTTP/0.9", "GET http://a.test/ HTTP/0.9\r\nHost: a.test\r\n\r\n", "GET", tunnel.BadVersion},
	{"HTTP/2.0 GET", "GET http://a.test/ HTTP/2.0\r\nHost: a.test\r\n\r\n", "GET", tunnel.BadVersion},
	{"no version", "GET http://a.test/\r\nHost: a.test\r\n\r\n", "GET", tunnel.BadRequest},
}

func TestCheckHead(t *testing.T) {
	for _, tt := range precheckTests {
		t.Run(tt.name, func(t *testing.T) {
			switch scan, n := scanHead([]byte(tt.in)); {
			case scan == headNotHTTP:
				// Refused at its first bytes, before a whole head.
				if tt.kind != tunnel.BadRequest {
					t.Fatalf("scanHead refused a head net/http answers as kind %v", tt.kind)
				}
			case scan != headOther || n != len(tt.in):
				t.Fatalf("scanHead = %d, %d; want a whole other head", scan, n)
			}
			method, err := checkHead([]byte(tt.in))
			if method != tt.method || tunnel.KindOf(err) != tt.kind {
				t.Errorf("checkHead = %q, %v (%v); want %q and kind %v", method, err, tunnel.KindOf(err), tt.method, tt.kind)
			}
		})
	}
}

// TestCheckHeadAgreesWithNetHTTP: each head is refused by the check
// exactly when net/http's server refuses it, with the same status, so a
// head that passes is served as before and none net/http refuses slips by.
func TestCheckHeadAgreesWithNetHTTP(t *testing.T) {
	// The heads with Content-Length or chunked coding announce a body they
	// do not carry: the client half-closes, the body ends short, the
	// handler answers all the same.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // up to the client's half-close
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	for _, tt := range precheckTests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(c, tt.in); err != nil {
				t.Fatal(err)
			}
			c.(*net.TCPConn).CloseWrite()
			status, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			want := " 200 " // HTTP/1.0 or 1.1, as the request
			if tt.kind != 0 {
				want = "HTTP/1.1 " + strconv.Itoa(tt.kind.HTTPStatus()) + " "
			}
			if !strings.HasPrefix(status, "HTTP/1.") || !strings.Contains(status, want) {
				t.Errorf("net/http answers %q, the check %q", status, want)
			}
		})
	}
}

// FuzzCheckHead: no panic, and a head the check lets through is one
// net/http's parser reads; one it refuses has a kind of the 4xx/5xx rows
// for a request.
func FuzzCheckHead(f *testing.F) {
	for _, tt := range precheckTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		scan, n := scanHead([]byte(in))
		if scan != headOther {
			return
		}
		head := []byte(in[:n])
		_, err := checkHead(head)
		if err == nil {
			if _, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head))); err != nil {
				t.Fatalf("passed a head net/http does not read: %v", err)
			}
			return
		}
		switch k := tunnel.KindOf(err); k {
		case tunnel.BadRequest, tunnel.BadVersion, tunnel.BadCoding:
		default:
			t.Fatalf("kind %v: %v", k, err)
		}
	})
}

// BenchmarkCheckHead is what the check adds to the first request of a
// connection, next to what net/http's parse of the same head costs (the
// baseline, which it still pays): quote the ratio.
func BenchmarkCheckHead(b *testing.B) {
	head := []byte("GET http://www.example.com/path/to/page?q=1 HTTP/1.1\r\nHost: www.example.com\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n" +
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
		"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n" +
		"Cookie: a=1; b=2\r\nUpgrade-Insecure-Requests: 1\r\n\r\n")
	b.Run("net-http-parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("check", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := checkHead(head); err != nil {
				b.Fatal(err)
			}
		}
	})
}
