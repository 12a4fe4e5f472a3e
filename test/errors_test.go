package test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestHTTPErrors checks each error answer of the HTTP front end on a raw
// socket, as the first request of a connection: the status, a text body
// that says why, the Proxy-Status error type (RFC 9209) and an access
// event. (Later requests on a keep-alive connection are read by net/http,
// whose own 400/431 for an unparsable head carry neither; README.)
func TestHTTPErrors(t *testing.T) {
	f := startFerry(t, minimalConfig+`
[limits]
dial_timeout = "500ms"
max_header_bytes = 1024
shutdown_grace = "2s"
`)
	refused := closedPort(t)
	silent := blackhole(t)
	huge := "GET http://" + refused + "/ HTTP/1.1\r\nHost: " + refused + "\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n"
	tests := []struct {
		name        string
		request     string
		status      int
		body        string // the reason, in the text body
		proxyStatus string
		target      string // the access event's target, when one is written
		dialed      string // the access event's address tried
	}{
		{"malformed request line", "GARBAGE\r\n\r\n", 400, "malformed", "http_request_error", "", ""},
		{"bad header line", "GET http://example.org/ HTTP/1.1\r\nHost: example.org\r\nno colon here\r\n\r\n", 400, "malformed", "http_request_error", "", ""},
		{"bad Content-Length", "POST http://example.org/ HTTP/1.1\r\nHost: example.org\r\nContent-Length: 12x\r\n\r\n", 400, "Content-Length", "http_request_error", "", ""},
		// RFC 9112 §6.3: a request whose last coding is not chunked has
		// no length a server can determine: 400, MUST. A coding ferry does
		// not decode before a final chunked: 501 (§6.1).
		{"transfer coding not ending in chunked", "POST http://example.org/ HTTP/1.1\r\nHost: example.org\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "does not end in chunked", "http_request_error", "", ""},
		{"unknown transfer coding", "POST http://example.org/ HTTP/1.1\r\nHost: example.org\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "only chunked", "http_request_error", "", ""},
		// Chunked twice is no coding to implement but a framing error
		// (§6.1: MUST NOT be applied more than once).
		{"chunked twice", "POST http://example.org/ HTTP/1.1\r\nHost: example.org\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "more than once", "http_request_error", "", ""},
		{"missing Host", "GET http://example.org/ HTTP/1.1\r\n\r\n", 400, "missing Host", "http_request_error", "", ""},
		{"HTTP/9.9", "GET http://example.org/ HTTP/9.9\r\nHost: example.org\r\n\r\n", 505, "unsupported protocol version", "http_request_error", "", ""},
		{"CONNECT without a port", "CONNECT example.org HTTP/1.1\r\nHost: example.org\r\n\r\n", 400, "bad target", "http_request_error", "example.org", ""},
		{"unsupported scheme", "GET ftp://example.org/ HTTP/1.1\r\nHost: example.org\r\n\r\n", 400, "unsupported scheme", "http_request_error", "", ""},
		{"oversized head", huge, 431, "Request Header Fields Too Large", "http_request_error", "", ""},
		{"CONNECT refused", connectReq(refused), 502, "refused", "connection_refused", refused, refused},
		{"GET refused", getReq(refused), 502, "refused", "connection_refused", refused, refused},
		{"CONNECT DNS failure", connectReq("nonexistent.invalid:443"), 502, "no such host", "dns_error", "nonexistent.invalid:443", ""},
		{"GET DNS failure", getReq("nonexistent.invalid"), 502, "no such host", "dns_error", "nonexistent.invalid:80", ""},
		{"CONNECT dial timeout", connectReq(silent), 504, "no answer within 500ms", "connection_timeout", silent, silent},
		{"GET dial timeout", getReq(silent), 504, "no answer within 500ms", "connection_timeout", silent, silent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, f.Addr)
			if _, err := io.WriteString(c, tt.request); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.body) {
				t.Errorf("got %d %q, want %d with %q", resp.StatusCode, body, tt.status, tt.body)
			}
			ps := resp.Header.Get("Proxy-Status")
			if want := "ferry; error=" + tt.proxyStatus + ";"; !strings.HasPrefix(ps, want) || !strings.Contains(ps, `details="`) {
				t.Errorf("Proxy-Status %q, want %q... with details", ps, want)
			}
			client := c.LocalAddr().String()
			ev := f.WaitEvent("access", func(e Event) bool { return e.Str("client") == client })
			if ev.Int("status") != int64(tt.status) || ev.Str("proxy_status") != tt.proxyStatus || ev.Str("err") == "" {
				t.Errorf("access event %v, want status %d proxy_status %s and err", ev, tt.status, tt.proxyStatus)
			}
			if tt.target != "" && ev.Str("target") != tt.target {
				t.Errorf("access target %q, want %q", ev.Str("target"), tt.target)
			}
			if ev.Str("dialed") != tt.dialed {
				t.Errorf("access dialed %q, want %q: the address that failed, if one was tried", ev.Str("dialed"), tt.dialed)
			}
		})
	}
}

func connectReq(target string) string {
	return fmt.Sprintf("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
}

func getReq(host string) string {
	return fmt.Sprintf("GET http://%s/ HTTP/1.1\r\nHost: %s\r\n\r\n", host, host)
}

// TestMaxHeaderBytes: max_header_bytes bounds the first plain-HTTP head
// of a connection exactly, as it bounds a CONNECT head, without the 4096
// bytes net/http adds to its own limit: a head a little over the limit
// gets 431 (answered by ferry), one under it is served. A later head on
// the same keep-alive connection is net/http's to read: it is served
// under the limit and refused a read-ahead buffer (4 KiB) over it, where
// net/http's own slack let 16 KiB through.
func TestMaxHeaderBytes(t *testing.T) {
	f := startFerry(t, minimalConfig+"\n[limits]\nmax_header_bytes = 8192\n")
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(origin.Close)
	host := strings.TrimPrefix(origin.URL, "http://")
	head := func(method, target string, size int) string {
		h := method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\nX-Pad: "
		return h + strings.Repeat("a", size-len(h)-4) + "\r\n\r\n"
	}
	get := "http://" + host + "/"
	tests := []struct {
		name     string
		requests []string // on one connection; only the last is over or under the limit
		status   int
	}{
		{"GET under the limit", []string{head("GET", get, 8000)}, 200},
		{"GET over the limit", []string{head("GET", get, 9000)}, 431},
		{"GET far over the limit", []string{head("GET", get, 12000)}, 431},
		{"CONNECT over the limit", []string{head("CONNECT", host, 9000)}, 431},
		{"second GET under the limit", []string{head("GET", get, 100), head("GET", get, 8000)}, 200},
		{"second GET over the limit and slack", []string{head("GET", get, 100), head("GET", get, 13000)}, 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, f.Addr)
			br := bufio.NewReader(c)
			for i, req := range tt.requests {
				if _, err := io.WriteString(c, req); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				want := 200
				if i == len(tt.requests)-1 {
					want = tt.status
				}
				if resp.StatusCode != want {
					t.Errorf("request %d of %d bytes: status %d, want %d", i, len(req), resp.StatusCode, want)
				}
				if i == 0 && want == 431 && !strings.HasPrefix(resp.Header.Get("Proxy-Status"), "ferry; error=http_request_error") {
					t.Errorf("first request: Proxy-Status %q, want http_request_error", resp.Header.Get("Proxy-Status"))
				}
			}
		})
	}
}

// Bytes no request line starts with (a SOCKS client pointed at an HTTP
// listener, TLS to a plaintext port) are refused at once with 400 and a
// Proxy-Status, not after the client has held the connection for the
// whole handshake timeout waiting for an end of head that never comes.
func TestNotHTTPRefusedAtOnce(t *testing.T) {
	f := startFerry(t, "[[listener]]\naddress = \"127.0.0.1:0\"\nprotocol = \"http\"\n\n[limits]\nhandshake_timeout = \"60s\"\n")
	for _, tt := range []struct{ name, in string }{
		{"SOCKS5 greeting", "\x05\x01\x00"},
		{"TLS ClientHello", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, f.Addr)
			c.SetDeadline(time.Now().Add(ioTimeout)) // well under the 60s handshake timeout
			if _, err := io.WriteString(c, tt.in); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer before the deadline: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != 400 || !strings.Contains(resp.Header.Get("Proxy-Status"), "error=http_request_error") {
				t.Fatalf("answer %d, Proxy-Status %q; want 400 and http_request_error", resp.StatusCode, resp.Header.Get("Proxy-Status"))
			}
		})
	}
	evs := f.WaitEvents("access", func(e Event) bool { return e.Int("status") == 400 && e.Str("proto") == "http" }, 2)
	for _, ev := range evs {
		if !strings.Contains(ev.Str("err"), "not an HTTP request") {
			t.Errorf("access event err %q, want it to say why", ev.Str("err"))
		}
	}
}
