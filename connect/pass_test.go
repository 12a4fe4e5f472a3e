package connect_test

import (
	"io"
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

// The query the origin sees is the one ferry parsed: an ambiguous one
// (';' as a separator, a bad escape) is re-encoded, as ReverseProxy does;
// a clean one is passed as sent.
func TestForwardQuery(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"clean", "a=1&b=%20x", "a=1&b=%20x"},
		{"semicolon", "a=1;b=2&c=3", "c=3"},
		{"bad escape", "a=%zz&b=2", "b=2"},
	}
	queries := make(chan string, 1)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { queries <- r.URL.RawQuery })
	w := newWorld(t, options{})
	client := w.client(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client.Get(o.URL + "/q?" + tt.in)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := <-queries; got != tt.want {
				t.Errorf("origin got query %q, want %q", got, tt.want)
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
