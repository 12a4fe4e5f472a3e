package connect_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/connect"
	"github.com/ferry-proxy/ferry/connect/forward"
)

// seen records the request head an origin received.
func recordingOrigin(t *testing.T, respond func(w http.ResponseWriter)) (*origin, chan http.Header) {
	heads := make(chan http.Header, 16)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		if r.Host != "" {
			h.Set("X-Seen-Host", r.Host)
		}
		heads <- h
		if respond != nil {
			respond(w)
		}
		io.WriteString(w, "ok")
	})
	return o, heads
}

func nextHead(t *testing.T, ch chan http.Header) http.Header {
	t.Helper()
	select {
	case h := <-ch:
		return h
	case <-time.After(bound):
		t.Fatal("origin got no request")
		return nil
	}
}

// RFC 9110 §7.6.1: hop-by-hop fields, and every field named in
// Connection, are not forwarded, either way; Proxy-* fields are ferry's
// own and never reach the origin; Via is added both ways (§7.6.3).
func TestForwardHopByHopAndVia(t *testing.T) {
	o, heads := recordingOrigin(t, func(w http.ResponseWriter) {
		h := w.Header()
		h.Set("Connection", "X-Resp-Hop")
		h.Set("X-Resp-Hop", "secret")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Proxy-Authenticate", `Basic realm="origin"`)
		h.Set("X-Resp-Kept", "yes")
	})
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "GET http://"+o.host+"/path?q=1 HTTP/1.1\r\n"+
		"Host: "+o.host+"\r\n"+
		"Connection: keep-alive, X-Custom-Hop\r\n"+
		"X-Custom-Hop: 1\r\n"+
		"Keep-Alive: timeout=5\r\n"+
		"TE: gzip\r\n"+
		"Trailer: X-Trailer\r\n"+
		"Upgrade: foo/1\r\n"+
		"Proxy-Connection: keep-alive\r\n"+
		"Proxy-Authorization: Basic dXNlcjpwYXNz\r\n"+
		"Proxy-Foo: bar\r\n"+
		"X-Kept: yes\r\n"+
		"\r\n")
	resp, body := c.response(t, "GET")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("response %d %q, want 200 ok", resp.StatusCode, body)
	}
	h := nextHead(t, heads)
	for _, k := range []string{"Connection", "X-Custom-Hop", "Keep-Alive", "Te", "Trailer", "Upgrade",
		"Proxy-Connection", "Proxy-Authorization", "Proxy-Foo", "X-Forwarded-For", "Forwarded"} {
		if v, ok := h[k]; ok {
			t.Errorf("origin got %s: %q", k, v)
		}
	}
	if h.Get("X-Kept") != "yes" {
		t.Errorf("origin lost X-Kept: %v", h)
	}
	if got := h.Values("Via"); !slices.Equal(got, []string{"1.1 ferry"}) {
		t.Errorf("origin got Via %q, want [1.1 ferry]", got)
	}
	if got := h.Get("X-Seen-Host"); got != o.host {
		t.Errorf("origin got Host %q, want %q", got, o.host)
	}
	for _, k := range []string{"X-Resp-Hop", "Keep-Alive", "Proxy-Authenticate"} {
		if v, ok := resp.Header[k]; ok {
			t.Errorf("client got %s: %q", k, v)
		}
	}
	if resp.Header.Get("X-Resp-Kept") != "yes" || !slices.Contains(resp.Header.Values("Via"), "1.1 ferry") {
		t.Errorf("client response headers %v, want X-Resp-Kept and Via: 1.1 ferry", resp.Header)
	}
	r := w.log.next(t)
	if r.Proto != "http" || r.Method != "GET" || r.Status != 200 || r.Target != o.host ||
		r.Dialed != o.host || r.URL != "http://"+o.host+"/path?q=1" || r.BytesDown != 2 {
		t.Errorf("access record = %+v", r)
	}
}

func TestForwardedModes(t *testing.T) {
	const priorXFF, priorFwd = "203.0.113.9", "for=203.0.113.9"
	tests := []struct {
		name     string
		mode     string
		sendPrev bool
		xff      []string
		fwd      []string
		xfHost   bool
	}{
		{"off adds nothing", connect.ForwardedOff, false, nil, nil, false},
		{"off passes the client's on", connect.ForwardedOff, true, []string{priorXFF}, []string{priorFwd}, false},
		{"default is off", "", false, nil, nil, false},
		{"add", connect.ForwardedAdd, false, []string{"127.0.0.1"}, []string{"for=127.0.0.1;proto=http"}, true},
		{"add appends", connect.ForwardedAdd, true, []string{priorXFF + ", 127.0.0.1"}, []string{priorFwd, "for=127.0.0.1;proto=http"}, true},
		{"strip removes", connect.ForwardedStrip, true, nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, heads := recordingOrigin(t, nil)
			w := newWorld(t, options{cfg: connect.Config{Forward: forward.Config{HTTP: forward.HTTP{Forwarded: tt.mode}}}})
			req, _ := http.NewRequest("GET", o.URL+"/", nil)
			if tt.sendPrev {
				req.Header.Set("X-Forwarded-For", priorXFF)
				req.Header.Set("Forwarded", priorFwd)
			}
			resp, err := w.client(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := nextHead(t, heads)
			if got := h.Values("X-Forwarded-For"); !slices.Equal(got, tt.xff) {
				t.Errorf("X-Forwarded-For = %q, want %q", got, tt.xff)
			}
			if got := h.Values("Forwarded"); !slices.Equal(got, tt.fwd) {
				t.Errorf("Forwarded = %q, want %q", got, tt.fwd)
			}
			if _, ok := h["X-Forwarded-Host"]; ok != tt.xfHost {
				t.Errorf("X-Forwarded-Host present = %v, want %v", ok, tt.xfHost)
			}
			if via := h.Get("Via"); strings.Contains(via, "127.0.0.1") {
				t.Errorf("Via %q names the client", via)
			}
		})
	}
}

// One client conn carries many requests, and ferry reuses its pooled
// origin conn for them.
func TestForwardKeepAliveBothSides(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.URL.Path) })
	w := newWorld(t, options{})
	cl := w.client(t)
	const n = 5
	for i := range n {
		resp, err := cl.Get(fmt.Sprintf("%s/%d", o.URL, i))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != fmt.Sprintf("/%d", i) {
			t.Fatalf("request %d got %q", i, b)
		}
	}
	if got := w.clients.n.Load(); got != 1 {
		t.Errorf("client opened %d conns to ferry for %d requests, want 1", got, n)
	}
	if got := o.conns.Load(); got != 1 {
		t.Errorf("ferry opened %d conns to the origin for %d requests, want 1 (pooled)", got, n)
	}
}

// Chunked bodies stream: the origin sees the first request chunk before
// the client has sent the second, and the client sees the first response
// chunk before the origin writes the second. Neither is buffered whole.
func TestForwardChunkedStreams(t *testing.T) {
	gotFirst := make(chan string, 1)
	sendSecond := make(chan struct{})
	type result struct {
		te   []string
		body string
	}
	origResult := make(chan result, 1)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		br := bufio.NewReader(r.Body)
		first, _ := br.ReadString('\n')
		gotFirst <- first
		rest, _ := io.ReadAll(br)
		origResult <- result{r.TransferEncoding, first + string(rest)}
		// Response: one chunk, then wait for the client to see it.
		fmt.Fprint(w, "answer-1\n")
		w.(http.Flusher).Flush()
		select {
		case <-sendSecond:
		case <-time.After(bound):
		}
		fmt.Fprint(w, "answer-2\n")
	})
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "POST "+o.URL+"/up HTTP/1.1\r\nHost: "+o.host+"\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"8\r\nchunk-1\n\r\n")
	select {
	case first := <-gotFirst:
		if first != "chunk-1\n" {
			t.Fatalf("origin's first line %q", first)
		}
	case <-time.After(bound):
		t.Fatal("origin did not get the first chunk before the body ended: request body buffered")
	}
	c.send(t, "8\r\nchunk-2\n\r\n0\r\n\r\n")
	res := <-origResult
	if res.body != "chunk-1\nchunk-2\n" || !slices.Equal(res.te, []string{"chunked"}) {
		t.Errorf("origin got body %q with Transfer-Encoding %q, want both chunks, chunked", res.body, res.te)
	}

	resp, err := http.ReadResponse(c.br, &http.Request{Method: "POST"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
		t.Errorf("response Transfer-Encoding %q, want chunked", resp.TransferEncoding)
	}
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); line != "answer-1\n" {
		t.Fatalf("first response line %q, %v: response body buffered", line, err)
	}
	close(sendSecond)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "answer-2\n" {
		t.Errorf("rest of response %q, %v", rest, err)
	}
}

// HEAD, 204 and 304 responses have no body (RFC 9110 §6.4.1): checked on
// one keep-alive conn, where a stray body byte would break the next
// response.
func TestForwardNoBodyResponses(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("Content-Length", "11")
			io.WriteString(w, "hello world")
		}
	})
	w := newWorld(t, options{})
	c := w.raw(t)
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{"HEAD", "/", 200, ""},
		{"GET", "/204", 204, ""},
		{"GET", "/304", 304, ""},
		{"GET", "/", 200, "hello world"},
		{"HEAD", "/", 200, ""},
		{"GET", "/", 200, "hello world"},
	}
	for _, tt := range tests {
		cond := ""
		if tt.status == 304 {
			cond = "If-None-Match: \"v1\"\r\n" // a 304 answers only a condition
		}
		c.send(t, tt.method+" "+o.URL+tt.path+" HTTP/1.1\r\nHost: "+o.host+"\r\n"+cond+"\r\n")
		resp, body := c.response(t, tt.method)
		if resp.StatusCode != tt.status || body != tt.body {
			t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, resp.StatusCode, body, tt.status, tt.body)
		}
		if tt.method == "HEAD" && resp.ContentLength != 11 {
			t.Errorf("HEAD Content-Length %d, want the origin's 11", resp.ContentLength)
		}
	}
	if n := w.clients.n.Load(); n != 1 {
		t.Errorf("%d client conns, want the one", n)
	}
}

// A request body that does not parse (a bad chunk size) is the client's
// error: 400, not a 502 blamed on the gateway.
func TestForwardMalformedChunkedBody(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "POST "+o.URL+"/up HTTP/1.1\r\nHost: "+o.host+"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
	resp, body := c.response(t, "POST")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "request body") {
		t.Fatalf("got %d %q, want 400 naming the request body", resp.StatusCode, body)
	}
	if r := w.log.next(t); r.Status != http.StatusBadRequest || r.ProxyStatus != "http_request_error" {
		t.Fatalf("record: status %d %q, want 400 http_request_error", r.Status, r.ProxyStatus)
	}
}
