package connect_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/connect"
)

// A CONNECT head the fast path cannot serve gets its 400 or 431 with a
// Proxy-Status (net/http's own answers to bad heads have none), an access
// record, and the end of the connection; a well-formed head with a bad
// target gets its 400 and the connection stays open.
func TestConnectBadHead(t *testing.T) {
	w := newWorld(t, options{cfg: connect.Config{Limits: connect.Limits{MaxHeaderBytes: 1024}}})
	tests := []struct {
		name, head string
		status     int
		reason     string
		keep       bool
	}{
		{"space in a header name", "CONNECT a.test:443 HTTP/1.1\r\nBad Name: x\r\n\r\n", 400, "is not a token", false},
		{"absolute-form target", "CONNECT http://a.test:443/ HTTP/1.1\r\n\r\n", 400, "want host:port", false},
		{"missing port", "CONNECT a.test HTTP/1.1\r\nHost: a.test\r\n\r\n", 400, "bad target", true},
		{"HTTP/2.0", "CONNECT a.test:443 HTTP/2.0\r\n\r\n", 505, "unsupported protocol version", false},
		{"no version", "CONNECT a.test:443\r\n\r\n", 400, "malformed request line", false},
		// Held to the HTTP/1 reader's rules, as a later CONNECT is.
		{"Content-Length and Transfer-Encoding", "CONNECT a.test:443 HTTP/1.1\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Transfer-Encoding", false},
		{"Content-Length on a CONNECT", "CONNECT a.test:443 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 400, "no content", false},
		{"Transfer-Encoding on a CONNECT", "CONNECT a.test:443 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "no content", false},
		{"Transfer-Encoding on HTTP/1.0", "CONNECT a.test:443 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "HTTP/1.0", false},
		{"a space in Host", "CONNECT a.test:443 HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "Host", false},
		{"head over max_header_bytes", "CONNECT a.test:443 HTTP/1.1\r\nX-Big: " + strings.Repeat("b", 2048) + "\r\n\r\n",
			431, "larger than 1024 bytes", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := w.raw(t)
			c.send(t, tt.head)
			resp, body := c.response(t, http.MethodConnect)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.reason) {
				t.Errorf("got %d %q, want %d with %q", resp.StatusCode, body, tt.status, tt.reason)
			}
			if ps := resp.Header.Get("Proxy-Status"); !strings.HasPrefix(ps, "ferry; error=http_request_error; details=") {
				t.Errorf("Proxy-Status %q", ps)
			}
			if resp.Close == tt.keep {
				t.Errorf("Connection: close is %v, want %v", resp.Close, !tt.keep)
			}
			if !tt.keep {
				if n, err := io.Copy(io.Discard, c.br); n != 0 || err != nil {
					t.Errorf("after the answer: %d bytes, %v; want EOF", n, err)
				}
			}
			r := w.log.next(t)
			if r.Proto != "connect" || r.Method != "CONNECT" || r.Status != tt.status ||
				r.ProxyStatus != "http_request_error" || r.Err == nil {
				t.Errorf("access record %+v", r)
			}
		})
	}
}

// A head too long for the fast path's peek but within a larger
// max_header_bytes is read by net/http, and the tunnel still opens.
func TestConnectLongHeadToNetHTTP(t *testing.T) {
	target := echoTarget(t)
	w := newWorld(t, options{cfg: connect.Config{Limits: connect.Limits{MaxHeaderBytes: 256 << 10}}})
	c := w.raw(t)
	big := strings.Repeat("b", 80<<10)
	// Written while the answer is read: 80 KiB may not fit the socket
	// buffers at once. A failed write shows as a missing answer below.
	go io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nX-Big: "+big+"\r\n\r\nping")
	c.connected(t)
	got := make([]byte, 4)
	if _, err := io.ReadFull(c.br, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo %q, %v", got, err)
	}
}

// A head sent in pieces is waited for, not taken for a bad one.
func TestConnectHeadInPieces(t *testing.T) {
	target := echoTarget(t)
	w := newWorld(t, options{})
	c := w.raw(t)
	for _, p := range []string{"CONN", "ECT " + target + " HTTP/1.1\r\n", "Host: " + target + "\r\n", "\r\nping"} {
		c.send(t, p)
	}
	c.connected(t)
	got := make([]byte, 4)
	if _, err := io.ReadFull(c.br, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo %q, %v", got, err)
	}
}

// After a refused CONNECT the connection may carry another request (a
// client answered 407 tries again on it): net/http serves it from there,
// and a CONNECT there opens the tunnel through the hijack path.
func TestConnectAfterRefusal(t *testing.T) {
	target := echoTarget(t)
	refused := closedAddr(t)
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "CONNECT "+refused+" HTTP/1.1\r\nHost: "+refused+"\r\n\r\n")
	resp, _ := c.response(t, http.MethodConnect)
	if resp.StatusCode != http.StatusBadGateway || resp.Close ||
		!strings.HasPrefix(resp.Header.Get("Proxy-Status"), "ferry; error=connection_refused") {
		t.Fatalf("first CONNECT: %d close=%v %q", resp.StatusCode, resp.Close, resp.Header.Get("Proxy-Status"))
	}
	if r := w.log.next(t); r.Status != http.StatusBadGateway || r.Target != refused {
		t.Errorf("access record %+v", r)
	}
	c.send(t, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\nEARLY")
	c.connected(t)
	got := make([]byte, 5)
	if _, err := io.ReadFull(c.br, got); err != nil || string(got) != "EARLY" {
		t.Fatalf("echo %q, %v", got, err)
	}
	c.Close()
	if r := w.log.next(t); r.Status != http.StatusOK || r.BytesUp != 5 {
		t.Errorf("access record %+v, want 200 with the 5 early bytes counted", r)
	}
}

// A refused HTTP/1.0 CONNECT (no keep-alive) ends the connection.
func TestConnectRefusedHTTP10Closes(t *testing.T) {
	refused := closedAddr(t)
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "CONNECT "+refused+" HTTP/1.0\r\n\r\n")
	resp, _ := c.response(t, http.MethodConnect)
	if resp.StatusCode != http.StatusBadGateway || !resp.Close {
		t.Fatalf("got %d close=%v, want 502 with Connection: close", resp.StatusCode, resp.Close)
	}
	if n, err := io.Copy(io.Discard, c.br); n != 0 || err != nil {
		t.Errorf("after the answer: %d bytes, %v; want EOF", n, err)
	}
}

// A CONNECT after a plain request on a keep-alive connection goes through
// net/http's hijack; bytes pipelined after its head reach the target.
func TestConnectAfterGET(t *testing.T) {
	target := echoTarget(t)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "GET "+o.URL+"/ HTTP/1.1\r\nHost: "+o.host+"\r\n\r\n")
	if resp, body := c.response(t, http.MethodGet); resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("GET: %d %q", resp.StatusCode, body)
	}
	c.send(t, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\nEARLY")
	c.connected(t)
	got := make([]byte, 5)
	if _, err := io.ReadFull(c.br, got); err != nil || string(got) != "EARLY" {
		t.Fatalf("echo %q, %v", got, err)
	}
}
