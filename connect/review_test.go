package connect_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// An origin that switches protocols before the whole request body arrived
// gets no relay: the client is answered 502, and nothing reads its
// connection's buffer after it was handed over (this used to crash).
func TestUpgradeBeforeBodyRefused(t *testing.T) {
	o := rawServer(t, func(_ int, c net.Conn) {
		http.ReadRequest(bufio.NewReader(c)) // the head only
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
		io.Copy(io.Discard, c)
	})
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "POST http://"+o+"/ HTTP/1.1\r\nHost: "+o+"\r\nConnection: Upgrade\r\nUpgrade: x\r\nContent-Length: 2\r\n\r\n1")
	resp, _ := c.response(t, "POST")
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	c.send(t, "2") // late: the request is over
	if r := w.log.next(t); r.Status != http.StatusBadGateway {
		t.Errorf("logged %d", r.Status)
	}
}

// A 101 the request did not ask for is not relayed: 502, as ReverseProxy
// answered, and what the client pipelined behind is never sent on.
func TestUnaskedUpgradeRefused(t *testing.T) {
	got := make(chan string, 4)
	o := rawServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		http.ReadRequest(br)
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		b, _ := io.ReadAll(br)
		got <- string(b)
	})
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "GET http://"+o+"/ HTTP/1.1\r\nHost: "+o+"\r\n\r\nGET http://"+o+"/second HTTP/1.1\r\nHost: "+o+"\r\nCookie: session=victim\r\n\r\n")
	resp, _ := c.response(t, "GET")
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	if b := <-got; strings.Contains(b, "victim") {
		t.Fatalf("the origin got the pipelined request: %q", b)
	}
}

// With Expect: 100-continue and an origin that answers at once, the
// client gets that answer and no 100 Continue after it, ever.
func TestNoContinueAfterTheAnswer(t *testing.T) {
	o := rawServer(t, func(_ int, c net.Conn) {
		http.ReadRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n\r\nnope")
	})
	w := newWorld(t, options{})
	for i := range 20 {
		c := w.raw(t)
		c.send(t, "PUT http://"+o+"/ HTTP/1.1\r\nHost: "+o+"\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		resp, body := c.response(t, "PUT")
		if resp.StatusCode != http.StatusUnauthorized || body != "nope" {
			t.Fatalf("request %d: %d %q, want 401 nope", i, resp.StatusCode, body)
		}
		if rest, _ := io.ReadAll(c.br); len(rest) != 0 {
			t.Fatalf("request %d: after the answer: %q", i, rest)
		}
		c.Close()
		w.log.next(t)
	}
}

// Responses framed in ways a client could not decode, or misread, are
// answered 502 or reframed (RFC 9112 §6.3): the client never gets a
// Content-Length the body does not have, nor a body still under a
// transfer coding whose field is gone.
func TestResponseFramingForwarded(t *testing.T) {
	tests := []struct {
		name, resp string
		status     int
		body       string
	}{
		{"TE on HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 502, ""},
		{"a coding ferry cannot take off, under chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4\r\nzzzz\r\n0\r\n\r\n", 502, ""},
		// Until the close (RFC 9112 §6.3 rule 4), but coded: with the
		// field gone as hop-by-hop, the coded bytes would pass for the
		// content (§6.1: a recipient that keeps a coding keeps the field).
		{"a coding not ending in chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: x-odd\r\nContent-Length: 2\r\n\r\nzzzz", 502, ""},
		{"gzip alone", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b\x08\x00", 502, ""},
		{"chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n7\r\n2\r\nok\r\n\r\n0\r\n\r\n", 502, ""},
		{"identity until close, its Content-Length dropped", "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello world", 200, "hello world"},
		{"204 with a Content-Length", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", 204, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := rawServer(t, func(_ int, c net.Conn) {
				http.ReadRequest(bufio.NewReader(c))
				io.WriteString(c, tt.resp)
			})
			w := newWorld(t, options{})
			c := w.raw(t)
			c.send(t, "GET http://"+o+"/ HTTP/1.1\r\nHost: "+o+"\r\n\r\n")
			resp, body := c.response(t, "GET")
			if resp.StatusCode != tt.status || tt.status != 502 && body != tt.body {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, body, tt.status, tt.body)
			}
			if tt.status != 502 && resp.Header.Get("Content-Length") != "" && resp.ContentLength != int64(len(body)) {
				t.Fatalf("Content-Length %q for a body of %d", resp.Header.Get("Content-Length"), len(body))
			}
			if tt.status == 204 && resp.Header.Get("Content-Length") != "" {
				t.Errorf("a 204 with Content-Length %q", resp.Header.Get("Content-Length"))
			}
		})
	}
}

// An origin that fails in the middle of an upload is answered at once,
// not when the client sends its next bytes.
func TestOriginFailsMidUpload(t *testing.T) {
	o := rawServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		http.ReadRequest(br)
		br.Read(make([]byte, 10))
		c.(*net.TCPConn).SetLinger(0)
		c.Close() // a reset
	})
	w := newWorld(t, options{})
	c := w.raw(t)
	c.SetDeadline(time.Now().Add(bound))
	c.send(t, "POST http://"+o+"/ HTTP/1.1\r\nHost: "+o+"\r\nContent-Length: 100\r\n\r\n0123456789")
	resp, body := c.response(t, "POST") // no more bytes are sent
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d %q %v, want 502", resp.StatusCode, body, resp.Header)
	}
}
