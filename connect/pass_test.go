package connect_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// RFC 9110 §15.2: an interim response (103 Early Hints, RFC 8297) reaches
// the client before the final one, its fields with it and not after it.
func TestForwardInterimResponse(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		io.WriteString(w, "final")
	})
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "GET "+o.URL+"/hints HTTP/1.1\r\nHost: "+o.host+"\r\n\r\n")
	resp, _ := c.response(t, "GET")
	if resp.StatusCode != http.StatusEarlyHints || resp.Header.Get("Link") != "</style.css>; rel=preload" {
		t.Fatalf("first response %d %q, want 103 with its Link", resp.StatusCode, resp.Header)
	}
	resp, body := c.response(t, "GET")
	if resp.StatusCode != 200 || body != "final" || resp.Header.Get("Link") != "" {
		t.Errorf("final response %d %q %q, want 200 \"final\" without the hints' Link", resp.StatusCode, resp.Header, body)
	}
	if rec := w.log.next(t); rec.Status != 200 || rec.BytesDown != int64(len("final")) {
		t.Errorf("access record status %d bytes_down %d, want 200, %d", rec.Status, rec.BytesDown, len("final"))
	}
}

// An interim response leaves its hop-by-hop fields behind as a final one
// does (RFC 9110 §7.6.1): those its Connection names, and the ones that
// always are.
func TestForwardInterimHopByHop(t *testing.T) {
	o := rawServer(t, func(_ int, c net.Conn) {
		http.ReadRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nConnection: X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\n"+
			"Upgrade: foo\r\nProxy-Authenticate: Basic\r\nLink: </a>; rel=preload\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "GET http://"+o+"/ HTTP/1.1\r\nHost: "+o+"\r\n\r\n")
	resp, _ := c.response(t, "GET")
	if resp.StatusCode != http.StatusEarlyHints || resp.Header.Get("Link") == "" {
		t.Fatalf("first response %d %q, want 103 with its Link", resp.StatusCode, resp.Header)
	}
	for _, k := range []string{"Connection", "X-Hop", "Keep-Alive", "Upgrade", "Proxy-Authenticate"} {
		if v, ok := resp.Header[k]; ok {
			t.Errorf("the 103 passed on %s: %q", k, v)
		}
	}
	if resp, body := c.response(t, "GET"); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("final response %d %q, want 200 ok", resp.StatusCode, body)
	}
}

// RFC 9110 §6.5: trailer fields of a chunked response reach the client.
func TestForwardTrailers(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "body")
		w.Header().Set("X-Checksum", "abc")
	})
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "GET "+o.URL+"/t HTTP/1.1\r\nHost: "+o.host+"\r\nTE: trailers\r\n\r\n")
	resp, body := c.response(t, "GET")
	if body != "body" || resp.Trailer.Get("X-Checksum") != "abc" {
		t.Errorf("body %q trailer %q, want \"body\" and X-Checksum: abc", body, resp.Trailer)
	}
}

// requestLineOrigin answers every request with 200 and sends the
// request line it got on lines.
func requestLineOrigin(t *testing.T) (addr string, lines chan string) {
	lines = make(chan string, 16)
	addr = rawServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		for range 100 {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l == "\r\n" {
					break
				}
			}
			lines <- strings.TrimSuffix(line, "\r\n")
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		}
	})
	return addr, lines
}

// The origin gets the path and query as the client sent them (RFC 9110
// §7.7: a proxy MUST NOT modify them), not net/url's form of them: a ';'
// and a bad escape in the query stay (they were re-encoded, and the
// parameters around them lost), and bytes net/url escapes again ('|',
// '"', a byte over 0x7f) stay as they came.
func TestForwardTargetAsSent(t *testing.T) {
	tests := []struct{ name, target string }{
		{"clean", "/q?a=1&b=%20x"},
		{"semicolon", "/q?b=2&a=1;c=3"},
		{"bad escape", "/q?a=%zz&b=2"},
		{"unsorted", "/q?z=1&a=2"},
		{"escaped slash", "/a%2fb%7E/c"},
		{"delimiters", "/a|b^c{d}e`f\\g\"h<i>?x=|"},
		{"not ascii", "/caf\xe9?q=\xe9"},
		{"dot segments", "/a/../b/./c"},
		{"empty path", "?x=1"},
	}
	addr, lines := requestLineOrigin(t)
	w := newWorld(t, options{})
	c := w.raw(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.send(t, "GET http://"+addr+tt.target+" HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
			if resp, _ := c.response(t, "GET"); resp.StatusCode != 200 {
				t.Fatalf("status %d (%s), want 200", resp.StatusCode, resp.Header.Get("Proxy-Status"))
			}
			want := tt.target
			if !strings.HasPrefix(want, "/") {
				want = "/" + want
			}
			if got := <-lines; got != "GET "+want+" HTTP/1.1" {
				t.Errorf("origin got %q, want %q", got, "GET "+want+" HTTP/1.1")
			}
		})
	}
}

// A response body the origin cuts short is cut short to the client too:
// the client conn is closed, never ended as if the body were whole; or,
// when none of it had left ferry's buffer, answered 502 in its place.
func TestForwardTruncatedBody(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, strings.Repeat("x", 10))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the origin drops the conn
	})
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "GET "+o.URL+"/short HTTP/1.1\r\nHost: "+o.host+"\r\n\r\n")
	// The head may not have left ferry's buffer either.
	if resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"}); err == nil {
		if b, err := io.ReadAll(resp.Body); err == nil && (resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Proxy-Status") == "") {
			t.Errorf("read %d bytes and a clean end, want the conn cut", len(b))
		}
	}
	if rec := w.log.next(t); rec.Err == nil {
		t.Errorf("access record has no error for a truncated body (bytes_down %d)", rec.BytesDown)
	}
}
