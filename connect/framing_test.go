package connect_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/connect"
	"github.com/ferry-proxy/ferry/front"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
)

// oddResponses are responses an origin gets wrong in ways that leave its
// connection unusable for the next one, by path. Their own requests may
// fail; the next request must not.
var oddResponses = map[string]string{
	"/odd/short-length": "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nodd-and-more-bytes",
	"/odd/te-and-cl":    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 100\r\n\r\n3\r\nodd\r\n0\r\n\r\n",
	"/odd/204-body":     "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nbytes",
	"/odd/304-chunked":  "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"/odd/identity":     "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nodd",
	"/odd/http10-te":    "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nodd",
	"/odd/head-body":    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nbytes",
}

// misframingOrigin answers /ok with a well-framed 200 and /odd/... with
// its odd response, keeping the connection open as if nothing were wrong
// (but for the bodies that end at the close, which it closes).
func misframingOrigin(t *testing.T) string {
	return rawServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		for range 1000 {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			odd, ok := oddResponses[req.URL.Path]
			if !ok {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				continue
			}
			io.WriteString(c, odd)
			if strings.Contains(odd, "identity") || strings.HasPrefix(odd, "HTTP/1.0") {
				return
			}
		}
	})
}

// TestNoSpurious502AfterMisframedResponses is issue 16 item 1: an origin
// that answers some requests with mis-framed responses, and the next ones
// well, costs the well-formed requests nothing, whatever conn the pool
// hands them: none gets a 502.
func TestNoSpurious502AfterMisframedResponses(t *testing.T) {
	addr := misframingOrigin(t)
	w := newWorld(t, options{})
	var paths []string
	for p := range oddResponses {
		paths = append(paths, p)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 4 {
		wg.Go(func() {
			client := w.client(t)
			for i := range 3 * len(paths) {
				p := paths[(i+g)%len(paths)]
				method := http.MethodGet
				if p == "/odd/head-body" {
					method = http.MethodHead
				}
				if req, err := http.NewRequest(method, "http://"+addr+p, nil); err == nil {
					if resp, err := client.Do(req); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
				for range 2 {
					resp, err := client.Get("http://" + addr + "/ok")
					if err != nil {
						errs <- fmt.Errorf("after %s: %v", p, err)
						continue
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || string(b) != "ok" {
						errs <- fmt.Errorf("after %s: %d %q (%s)", p, resp.StatusCode, b, resp.Header.Get("Proxy-Status"))
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Errorf("%d well-formed requests failed", n)
	}
}

// An origin that closes every connection right after its response,
// without saying so: the pooled conn is dead when the next request takes
// it. Replayable requests are sent again on a fresh conn; none fails.
func TestStaleConnRetried(t *testing.T) {
	addr := rawServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		if req, err := http.ReadRequest(br); err == nil {
			io.Copy(io.Discard, req.Body)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	w := newWorld(t, options{})
	client := w.client(t)
	for i := range 50 {
		method := []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete}[i%4]
		req, _ := http.NewRequest(method, "http://"+addr+"/", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d (%s): %v", i, method, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d (%s): %d %s", i, method, resp.StatusCode, resp.Header.Get("Proxy-Status"))
		}
	}
}

// An origin that closes idle connections after exactly idle, with
// requests sent at that interval: the race between its close and ferry's
// reuse costs no request a 502.
func TestOriginIdleCloseRace(t *testing.T) {
	const idle = 20 * time.Millisecond
	o := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	o.Config.IdleTimeout = idle
	o.Start()
	t.Cleanup(o.Close)
	w := newWorld(t, options{})
	client := w.client(t)
	tick := time.NewTicker(idle) // the load's pace, not a synchronisation
	defer tick.Stop()
	for i := range 40 {
		<-tick.C
		resp, err := client.Get(o.URL + "/")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, resp.Header.Get("Proxy-Status"))
		}
	}
}

// TestRequestFramingRefused is RFC 9112 §6.1, §6.3 and §11.2 for requests,
// first of a connection or later on keep-alive: a head whose body length
// two readers could disagree on is refused with ferry's own answer
// (Proxy-Status, an access line), and the connection closes after it, so
// what follows is never read as a request.
func TestRequestFramingRefused(t *testing.T) {
	o, heads := recordingOrigin(t, nil)
	smuggled := "GET " + o.URL + "/smuggled HTTP/1.1\r\nHost: " + o.host + "\r\n\r\n"
	tests := []struct {
		name, head string
		status     int
	}{
		{"Content-Length and Transfer-Encoding", "POST " + o.URL + "/ HTTP/1.1\r\nHost: " + o.host +
			"\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"Transfer-Encoding on HTTP/1.0", "POST " + o.URL + "/ HTTP/1.0\r\nHost: " + o.host +
			"\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"Content-Lengths that disagree", "POST " + o.URL + "/ HTTP/1.1\r\nHost: " + o.host +
			"\r\nContent-Length: 5\r\nContent-Length: 0\r\n\r\nhello", 400},
		{"last coding not chunked", "POST " + o.URL + "/ HTTP/1.1\r\nHost: " + o.host +
			"\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400},
		// Chunked twice: malformed (RFC 9112 §6.1), not a coding to implement.
		{"two Transfer-Encoding lines", "POST " + o.URL + "/ HTTP/1.1\r\nHost: " + o.host +
			"\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"a coding under chunked", "POST " + o.URL + "/ HTTP/1.1\r\nHost: " + o.host +
			"\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
		{"space before the colon", "POST " + o.URL + "/ HTTP/1.1\r\nHost: " + o.host +
			"\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400},
		{"obs-fold hiding a coding", "POST " + o.URL + "/ HTTP/1.1\r\nHost: " + o.host +
			"\r\nContent-Length: 5\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\nhello", 0}, // folded into X: a 5-byte body
		{"bare CR in a field", "GET " + o.URL + "/ HTTP/1.1\r\nHost: " + o.host + "\r\nX: a\rb\r\n\r\n", 400},
		{"two Host fields", "GET " + o.URL + "/ HTTP/1.1\r\nHost: " + o.host + "\r\nHost: other\r\n\r\n", 400},
		{"no Host", "GET " + o.URL + "/ HTTP/1.1\r\n\r\n", 400},
		{"userinfo in the target", "GET http://user@" + o.host + "/ HTTP/1.1\r\nHost: " + o.host + "\r\n\r\n", 400},
		{"two spaces in the request line", "GET  " + o.URL + "/ HTTP/1.1\r\nHost: " + o.host + "\r\n\r\n", 400},
	}
	for _, later := range []bool{false, true} {
		for _, tt := range tests {
			name := tt.name
			if later {
				name = "later/" + name
			}
			t.Run(name, func(t *testing.T) {
				w := newWorld(t, options{})
				c := w.raw(t)
				if later {
					c.send(t, "GET "+o.URL+"/first HTTP/1.1\r\nHost: "+o.host+"\r\n\r\n")
					if resp, _ := c.response(t, "GET"); resp.StatusCode != 200 {
						t.Fatalf("first request: %d", resp.StatusCode)
					}
					nextHead(t, heads)
					w.log.next(t)
				}
				c.send(t, tt.head+smuggled)
				resp, body := c.response(t, "GET")
				if tt.status == 0 {
					// Served: the request is one, and so is what follows.
					if resp.StatusCode != 200 {
						t.Fatalf("status %d %q, want 200", resp.StatusCode, body)
					}
					if resp, _ := c.response(t, "GET"); resp.StatusCode != 200 {
						t.Fatalf("the request after it: %d, want 200", resp.StatusCode)
					}
					nextHead(t, heads)
					nextHead(t, heads)
					w.log.next(t)
					return
				}
				if resp.StatusCode != tt.status || !strings.Contains(resp.Header.Get("Proxy-Status"), "http_request_error") {
					t.Fatalf("status %d %q Proxy-Status %q, want %d http_request_error", resp.StatusCode, body,
						resp.Header.Get("Proxy-Status"), tt.status)
				}
				if r := w.log.next(t); r.Status != tt.status || r.ProxyStatus != "http_request_error" {
					t.Errorf("access record status %d %q", r.Status, r.ProxyStatus)
				}
				if rest, err := io.ReadAll(c.br); len(rest) != 0 {
					t.Fatalf("after the refusal: %q, %v; want the connection closed", rest, err)
				}
				select {
				case h := <-heads:
					t.Fatalf("the origin got a request (%v) after a refused head", h)
				default:
				}
			})
		}
	}
}

// TestLaterHeadsGetFerrysAnswer is issue 16 item 3 on a TLS listener:
// every malformed head, not only the first of a connection, gets ferry's
// answer with Proxy-Status and an access line.
func TestLaterHeadsGetFerrysAnswer(t *testing.T) {
	o, heads := recordingOrigin(t, nil)
	cert := httptest.NewUnstartedServer(nil)
	cert.StartTLS()
	t.Cleanup(cert.Close)
	log := make(sink, 16)
	engine := tunnel.New(tunnel.Config{DialTimeout: bound}, nil)
	t.Cleanup(engine.Close)
	srv := connect.New(connect.Config{}, engine, log, zerolog.Nop())
	mux := &front.Mux{HTTP: srv, HandshakeTimeout: bound,
		TLS: func(net.Listener) *tls.Config { return cert.TLS }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go mux.Serve(ln, front.Auto)
	t.Cleanup(mux.Close)
	tc, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	tc.SetDeadline(time.Now().Add(bound))
	br := bufio.NewReader(tc)
	io.WriteString(tc, "GET "+o.URL+"/ HTTP/1.1\r\nHost: "+o.host+"\r\n\r\n")
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	nextHead(t, heads)
	log.next(t)
	io.WriteString(tc, "GET "+o.URL+"/ HTTP/1.1\r\nHost: "+o.host+"\r\nBad Name: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 400 || !strings.Contains(resp.Header.Get("Proxy-Status"), "ferry; error=http_request_error") {
		t.Fatalf("second, malformed: %v %v, want 400 with ferry's Proxy-Status", resp, err)
	}
	if r := log.next(t); r.Status != 400 || r.ProxyStatus != "http_request_error" {
		t.Errorf("access record %d %q", r.Status, r.ProxyStatus)
	}
}

// Issue 20 item 7: trailer fields pass a proxy filtered as headers are
// (no hop-by-hop, no Proxy-*, none a trailer may not carry), both ways;
// and the Proxy request header (httpoxy) never reaches an origin.
func TestTrailersFiltered(t *testing.T) {
	got := make(chan http.Header, 1)
	gotHead := make(chan http.Header, 1)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		gotHead <- r.Header.Clone()
		got <- r.Trailer.Clone()
		w.Header().Set("Trailer", "X-Result, Proxy-Authenticate, Set-Cookie")
		io.WriteString(w, "body")
		w.Header().Set("X-Result", "ok")
		w.Header().Set("Proxy-Authenticate", "Basic")
		w.Header().Set("Set-Cookie", "a=b")
	})
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "POST "+o.URL+"/ HTTP/1.1\r\nHost: "+o.host+"\r\nProxy: http://evil.example/\r\nTE: trailers\r\n"+
		"Transfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\nX-Sum: 1\r\nProxy-Authorization: Basic c2VjcmV0\r\nContent-Length: 4\r\n\r\n")
	resp, body := c.response(t, "POST")
	if resp.StatusCode != 200 || body != "body" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if h := <-gotHead; h.Get("Proxy") != "" {
		t.Errorf("the origin got Proxy: %q", h.Get("Proxy"))
	}
	tr := <-got
	if tr.Get("X-Sum") != "1" || tr.Get("Proxy-Authorization") != "" || tr.Get("Content-Length") != "" {
		t.Errorf("origin's trailers %v, want X-Sum only", tr)
	}
	if resp.Trailer.Get("X-Result") != "ok" || resp.Trailer.Get("Proxy-Authenticate") != "" || resp.Trailer.Get("Set-Cookie") != "" {
		t.Errorf("client's trailers %v, want X-Result only", resp.Trailer)
	}
}

// Issue 20 item 8: a malformed chunked request body gets one answer, 400,
// and the connection closes: no second response on it.
func TestMalformedChunkedBodyOneAnswer(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "POST "+o.URL+"/up HTTP/1.1\r\nHost: "+o.host+"\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\nzz\r\n")
	resp, _ := c.response(t, "POST")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	if rest, _ := io.ReadAll(c.br); len(rest) != 0 {
		t.Fatalf("after the 400: %q, want nothing (the connection closed)", rest)
	}
}

// An idle pooled conn the origin has closed is noticed before it is used:
// a POST, which is never sent twice, goes out on a fresh conn and is
// answered.
func TestClosedIdleConnNotUsed(t *testing.T) {
	closed := make(chan struct{}, 8)
	addr := rawServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		if req, err := http.ReadRequest(br); err == nil {
			io.Copy(io.Discard, req.Body)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
		c.Close()
		closed <- struct{}{}
	})
	w := newWorld(t, options{})
	client := w.client(t)
	for i := range 5 {
		resp, err := client.Post("http://"+addr+"/", "text/plain", strings.NewReader("post body"))
		if err != nil {
			t.Fatalf("POST %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST %d: %d %s", i, resp.StatusCode, resp.Header.Get("Proxy-Status"))
		}
		<-closed // the origin's FIN is on its way before the next POST
		w.log.next(t)
	}
}

// A PUT that got no byte of answer on a reused conn (the origin closed it
// as the request arrived) goes again on a fresh conn with its whole body.
func TestReplayWithBody(t *testing.T) {
	got := make(chan string, 4)
	addr := rawServer(t, func(n int, c net.Conn) {
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			b, _ := io.ReadAll(req.Body)
			if n == 1 && i == 1 {
				return // the second request on the first conn: closed unanswered
			}
			if req.Method == http.MethodPut {
				got <- string(b)
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	w := newWorld(t, options{})
	client := w.client(t)
	if resp, err := client.Get("http://" + addr + "/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: %v %v", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/thing", strings.NewReader("the whole body"))
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT: %v %v", resp, err)
	}
	resp.Body.Close()
	if b := <-got; b != "the whole body" {
		t.Errorf("the origin got %q", b)
	}
}

// A later head cut short (the client half-closes before the blank line)
// gets its 400 and an access line, as a first one does; a refused later
// head's access line names its method and target.
func TestLaterHeadCutShort(t *testing.T) {
	o, heads := recordingOrigin(t, nil)
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "GET "+o.URL+"/first HTTP/1.1\r\nHost: "+o.host+"\r\n\r\n")
	c.response(t, "GET")
	nextHead(t, heads)
	w.log.next(t)
	c.send(t, "GET "+o.URL+"/second HTTP/1.1\r\nHost: "+o.host+"\r\n")
	c.CloseWrite()
	resp, body := c.response(t, "GET")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "cut short") {
		t.Fatalf("%d %q, want 400 cut short", resp.StatusCode, body)
	}
	if r := w.log.next(t); r.Status != http.StatusBadRequest {
		t.Fatalf("access record status %d", r.Status)
	}

	c2 := w.raw(t)
	c2.send(t, "GET "+o.URL+"/first HTTP/1.1\r\nHost: "+o.host+"\r\n\r\n")
	c2.response(t, "GET")
	nextHead(t, heads)
	w.log.next(t)
	c2.send(t, "CONNECT a.test:443 HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n")
	if resp, _ := c2.response(t, "CONNECT"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if r := w.log.next(t); r.Proto != "connect" || r.Method != "CONNECT" || r.Target != "a.test:443" {
		t.Errorf("refusal logged proto %q method %q target %q", r.Proto, r.Method, r.Target)
	}
}
