package connect_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/connect"
	"github.com/ferry-proxy/ferry/connect/forward"
	"github.com/ferry-proxy/ferry/tunnel"
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

// RFC 9110 §10.1.1: the client gets exactly one 100 Continue, then the
// final response, and its body reaches the origin.
func TestForwardExpectContinue(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "got %s", b)
	})
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "PUT "+o.URL+"/x HTTP/1.1\r\nHost: "+o.host+"\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	resp, _ := c.response(t, "PUT")
	if resp.StatusCode != http.StatusContinue {
		t.Fatalf("first response %d, want 100 before the body is sent", resp.StatusCode)
	}
	c.send(t, "hello")
	resp, body := c.response(t, "PUT")
	if resp.StatusCode != 200 || body != "got hello" {
		t.Fatalf("after the body: %d %q, want 200 \"got hello\" (a second 100 is a bug)", resp.StatusCode, body)
	}
	// Nothing more may follow on the conn: a stray response would be read
	// as the answer to the next request.
	c.send(t, "GET "+o.URL+"/next HTTP/1.1\r\nHost: "+o.host+"\r\n\r\n")
	if resp, body := c.response(t, "GET"); resp.StatusCode != 200 || body != "got " {
		t.Errorf("next request on the conn got %d %q", resp.StatusCode, body)
	}
}

// An Upgrade (WebSocket-style) gets the origin's 101, then the conn is a
// raw byte pipe both ways.
func TestForwardUpgrade(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" || !strings.EqualFold(r.Header.Get("Connection"), "upgrade") {
			http.Error(w, "not an upgrade: "+fmt.Sprint(r.Header), 400)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(bound))
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nserver-first")
		buf := make([]byte, 4)
		if _, err := io.ReadFull(brw, buf); err == nil {
			c.Write(append([]byte("echo:"), buf...))
		}
	})
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "GET "+o.URL+"/ws HTTP/1.1\r\nHost: "+o.host+"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "websocket" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("got %d %v %q, want 101 with Upgrade: websocket", resp.StatusCode, resp.Header, b)
	}
	first := make([]byte, len("server-first"))
	if _, err := io.ReadFull(c.br, first); err != nil || string(first) != "server-first" {
		t.Fatalf("server→client after 101: %q, %v", first, err)
	}
	c.send(t, "ping")
	echo := make([]byte, len("echo:ping"))
	if _, err := io.ReadFull(c.br, echo); err != nil || string(echo) != "echo:ping" {
		t.Fatalf("client→server→client after 101: %q, %v", echo, err)
	}
	c.Close() // the record is written when the upgraded conn ends
	r := w.log.next(t)
	if r.Status != http.StatusSwitchingProtocols {
		t.Errorf("access record status %d, want 101", r.Status)
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
		c.send(t, tt.method+" "+o.URL+tt.path+" HTTP/1.1\r\nHost: "+o.host+"\r\n\r\n")
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

// An origin that answers while it still reads the upload (full duplex, as
// streaming APIs do) gets each request line and echoes it before the
// client sends the next: ferry neither holds the response head until the
// request body ends nor consumes that body itself.
func TestForwardFullDuplex(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).EnableFullDuplex()
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		br := bufio.NewReader(r.Body)
		for range 100 {
			line, err := br.ReadString('\n')
			if line != "" {
				io.WriteString(w, "echo "+line)
				w.(http.Flusher).Flush()
			}
			if err != nil {
				return
			}
		}
	})
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "POST "+o.URL+"/ HTTP/1.1\r\nHost: "+o.host+"\r\nTransfer-Encoding: chunked\r\n\r\n")
	var br *bufio.Reader
	for i, line := range []string{"one\n", "two\n", "three\n"} {
		c.send(t, fmt.Sprintf("%x\r\n%s\r\n", len(line), line))
		if i == 0 {
			resp, err := http.ReadResponse(c.br, &http.Request{Method: "POST"})
			if err != nil {
				t.Fatalf("no response head while the request body is open: %v", err)
			}
			br = bufio.NewReader(resp.Body)
		}
		if got, err := br.ReadString('\n'); got != "echo "+line {
			t.Fatalf("line %d: got %q, %v; want %q", i, got, err, "echo "+line)
		}
	}
	c.send(t, "0\r\n\r\n")
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after the last chunk: %q, %v", rest, err)
	}
}

// A request with a body that ferry answers itself (here 502: the origin
// refuses) leaves the connection usable: the answer is complete (it has
// a length), the body is read and dropped, and the next request on the
// same connection is served. net/http left to itself panicked on such a
// body (golang/go#68560) and dropped the connection.
func TestRefusedBodyKeepsConnection(t *testing.T) {
	w := newWorld(t, options{})
	o := newOrigin(t, func(rw http.ResponseWriter, r *http.Request) { io.WriteString(rw, "second") })
	refused := closedAddr(t)
	c := w.raw(t)
	c.send(t, "POST http://"+refused+"/x HTTP/1.1\r\nHost: "+refused+"\r\nContent-Length: 5\r\n\r\nhello")
	resp, body := c.response(t, "POST")
	if resp.StatusCode != http.StatusBadGateway || resp.ContentLength != int64(len(body)) || resp.Close {
		t.Fatalf("refusal: %d, length %d for %d bytes, close %v; want 502 with its length, kept open",
			resp.StatusCode, resp.ContentLength, len(body), resp.Close)
	}
	c.send(t, "GET "+o.URL+"/y HTTP/1.1\r\nHost: "+o.host+"\r\n\r\n")
	resp, body = c.response(t, "GET")
	if resp.StatusCode != http.StatusOK || body != "second" {
		t.Fatalf("next request on the connection: %d %q, want 200 %q", resp.StatusCode, body, "second")
	}
}

// A client that waits for 100 Continue is not asked for a body ferry will
// not forward: it gets the refusal, and the connection ends after it.
func TestRefusedExpectContinueNotInvited(t *testing.T) {
	w := newWorld(t, options{})
	refused := closedAddr(t)
	c := w.raw(t)
	c.send(t, "POST http://"+refused+"/x HTTP/1.1\r\nHost: "+refused+"\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	resp, _ := c.response(t, "POST")
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("got %d, want the 502 and no 100 Continue first", resp.StatusCode)
	}
	if b, err := c.br.ReadByte(); err != io.EOF {
		t.Fatalf("after the refusal: byte %q, %v; want the connection closed", b, err)
	}
}

// After a 101 the exchange ends like an idle tunnel: a client that left
// while the origin stays silent (and keeps its side open) does not hold
// the connection, nor its slot, for ever. The access event says why and
// counts the bytes that moved after the 101.
func TestForwardUpgradeIdle(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(bound))
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
		buf := make([]byte, 4)
		io.ReadFull(brw, buf)
		c.Write([]byte("pong"))
		<-release // silent, and open, whatever the proxy does
	})
	w := newWorld(t, options{engine: tunnel.Config{IdleTimeout: 200 * time.Millisecond}})
	c := w.raw(t)
	c.send(t, "GET "+o.URL+"/up HTTP/1.1\r\nHost: "+o.host+"\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
	resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade answer %v, %v; want 101", resp, err)
	}
	c.send(t, "ping")
	pong := make([]byte, 4)
	if _, err := io.ReadFull(c.br, pong); err != nil || string(pong) != "pong" {
		t.Fatalf("after the 101: %q, %v", pong, err)
	}
	c.Close() // gone; the origin says nothing and keeps its side open
	r := w.log.next(t)
	if r.Status != http.StatusSwitchingProtocols || !errors.Is(r.Err, tunnel.ErrIdle) || r.BytesUp != 4 || r.BytesDown != 4 {
		t.Fatalf("record: status %d, err %v, %d up, %d down; want 101, idle timeout, 4 up, 4 down",
			r.Status, r.Err, r.BytesUp, r.BytesDown)
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

// A response body that stops coming (the origin stalls mid-body) ends
// after the idle timeout, as an idle tunnel does: the client's connection
// is cut (the body is short), the event says idle timeout. Both ferry's
// own origin client (GET) and the transport (POST) are bounded.
func TestForwardIdleResponseBody(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	stall := rawServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
		<-release // 90 bytes owed, never sent; the connection stays open
	})
	w := newWorld(t, options{engine: tunnel.Config{IdleTimeout: 200 * time.Millisecond}})
	for _, head := range []string{
		"GET http://" + stall + "/ HTTP/1.1\r\nHost: " + stall + "\r\n\r\n",
		"POST http://" + stall + "/ HTTP/1.1\r\nHost: " + stall + "\r\nContent-Length: 2\r\n\r\nhi",
	} {
		c := w.raw(t)
		c.send(t, head)
		// What reached the client (the head and 10 bytes may still sit in
		// ferry's buffer) matters less than that the connection ends, and
		// long before the test's bound.
		got, err := io.ReadAll(c.br)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %v; got %q", bound, got)
		}
		if r := w.log.next(t); !errors.Is(r.Err, tunnel.ErrIdle) {
			t.Fatalf("record err %v, want the idle timeout", r.Err)
		}
	}
}

// A client that stops sending its request body is answered 408 after the
// idle timeout, and the origin's side ends too, where the request stayed
// open for as long as the client did.
func TestForwardIdleRequestBody(t *testing.T) {
	gotBody := make(chan []byte, 1)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody <- b
	})
	w := newWorld(t, options{engine: tunnel.Config{IdleTimeout: 200 * time.Millisecond}})
	c := w.raw(t)
	c.send(t, "POST "+o.URL+"/up HTTP/1.1\r\nHost: "+o.host+"\r\nContent-Length: 1000\r\n\r\nabc")
	resp, body := c.response(t, "POST")
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, "idle_timeout") {
		t.Fatalf("got %d %q, want 408 naming idle_timeout", resp.StatusCode, body)
	}
	if r := w.log.next(t); r.Status != http.StatusRequestTimeout {
		t.Fatalf("record status %d, want 408", r.Status)
	}
	select {
	case b := <-gotBody:
		if len(b) == 1000 {
			t.Fatalf("the origin got a whole body: %q", b)
		}
	case <-time.After(bound):
		t.Fatal("the origin's request did not end")
	}
}

// An origin that answers an upload before reading it (413, say) and then
// closes: the client, still sending, must read that answer, not a reset.
// The answer says Connection: close, and ferry drains the rest of the
// body before it closes (a close with unread bytes sends a reset, which
// can destroy the answer in the client's buffer).
func TestForwardEarlyAnswerReachesUploader(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	o := rawServer(t, func(_ int, c net.Conn) {
		http.ReadRequest(bufio.NewReader(c)) // the head only
		io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope")
		<-release // reads no more: the upload cannot finish
	})
	w := newWorld(t, options{})
	body := make([]byte, 8<<20)
	for i := range 5 {
		c := w.raw(t)
		go func() {
			io.WriteString(c, fmt.Sprintf("PUT http://%s/up HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", o, o, len(body)))
			c.Write(body) // until done, or the conn is closed
		}()
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatalf("upload %d: %v, want the origin's 413", i, err)
		}
		got, err := io.ReadAll(resp.Body)
		if resp.StatusCode != 413 || string(got) != "nope" || err != nil || !resp.Close {
			t.Fatalf("upload %d: %d %q %v, close %v; want 413 \"nope\" and Connection: close", i, resp.StatusCode, got, err, resp.Close)
		}
		c.Close()
	}
}

// An Upgrade in an HTTP/1.0 request is ignored (RFC 9110 §7.8: MUST), so
// the origin is not asked to switch, and a 101 it sends all the same is
// unasked (502): an HTTP/1.0 client gets no 1xx (§15.2).
func TestForwardUpgradeIgnoredOnHTTP10(t *testing.T) {
	const upgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\n"
	t.Run("not asked", func(t *testing.T) {
		o, seen := capturingOrigin(t)
		w := newWorld(t, options{})
		c := w.raw(t)
		c.send(t, "GET "+o.URL+"/ws HTTP/1.0\r\n"+upgrade+"\r\n")
		if resp, _ := c.response(t, "GET"); resp.StatusCode != 200 {
			t.Errorf("status %d, want the origin's 200", resp.StatusCode)
		}
		r := nextSeen(t, seen)
		if r.header.Get("Upgrade") != "" || strings.Contains(strings.ToLower(r.header.Get("Connection")), "upgrade") {
			t.Errorf("origin got Upgrade %q, Connection %q; want neither", r.header.Get("Upgrade"), r.header.Get("Connection"))
		}
	})
	t.Run("switched unasked", func(t *testing.T) {
		o := rawServer(t, func(_ int, c net.Conn) {
			http.ReadRequest(bufio.NewReader(c))
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\n"+upgrade+"\r\nraw")
		})
		w := newWorld(t, options{})
		c := w.raw(t)
		c.send(t, "GET http://"+o+"/ws HTTP/1.0\r\n"+upgrade+"\r\n")
		if resp, _ := c.response(t, "GET"); resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Proxy-Status") == "" {
			t.Errorf("status %d %q, want 502 with Proxy-Status", resp.StatusCode, resp.Header.Get("Proxy-Status"))
		}
	})
}
