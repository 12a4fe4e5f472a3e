package connect_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/connect"
	"github.com/ferry-proxy/ferry/connect/forward"
	"github.com/ferry-proxy/ferry/tunnel"
)

// oneShotOrigin answers one request per connection, numbered, and then
// closes it without saying so (no Connection: close), as an origin whose
// keep-alive timeout has just passed: ferry pools a connection that is
// already closed.
func oneShotOrigin(t *testing.T, head string) (addr string, requests *atomic.Int64) {
	requests = new(atomic.Int64)
	addr = rawServer(t, func(n int, c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		requests.Add(1)
		body := fmt.Sprint(n)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s", head, len(body), body)
	})
	return addr, requests
}

// A GET sent on a pooled connection the origin has closed is sent again on
// a new one. A DELETE, which may not be repeated, is not sent on a pooled
// connection of the origin client at all (http.Transport's notices the
// close while idle): it gets a fresh connection and its answer.
func TestOriginStaleConnection(t *testing.T) {
	target, requests := oneShotOrigin(t, "")
	w := newWorld(t, options{})
	c := w.raw(t)
	for i, want := range []string{"1", "2"} {
		c.send(t, "GET http://"+target+"/ HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
		resp, body := c.response(t, "GET")
		if resp.StatusCode != 200 || body != want {
			t.Fatalf("GET %d: %d %q, want 200 %q (a stale pooled conn is retried)", i+1, resp.StatusCode, body, want)
		}
	}
	c.send(t, "DELETE http://"+target+"/ HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	if resp, body := c.response(t, "DELETE"); resp.StatusCode != 200 || body != "3" {
		t.Errorf("DELETE after the origin closed the pooled conn: %d %q, want 200 \"3\"", resp.StatusCode, body)
	}
	if got := requests.Load(); got != 3 {
		t.Errorf("origin read %d requests, want 3", got)
	}
}

// A response head over 1 MiB is refused with 502, not read on and on.
func TestOriginHugeResponseHead(t *testing.T) {
	target, _ := oneShotOrigin(t, "X-Big: "+strings.Repeat("a", 2<<20)+"\r\n")
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "GET http://"+target+"/ HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	resp, body := c.response(t, "GET")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "response head") {
		t.Errorf("got %d %q, want 502 naming the response head", resp.StatusCode, body)
	}
}

// Pooled origin connections are closed once idle for origin_idle_timeout.
func TestOriginIdleConnectionsClosed(t *testing.T) {
	closed := make(chan struct{}, 1)
	o := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	o.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			select {
			case closed <- struct{}{}:
			default:
			}
		}
	}
	o.Start()
	t.Cleanup(o.Close)
	w := newWorld(t, options{cfg: connect.Config{Forward: forward.Config{OriginIdleTimeout: 100 * time.Millisecond}}})
	c := w.raw(t)
	c.send(t, "GET "+o.URL+"/ HTTP/1.1\r\nHost: "+strings.TrimPrefix(o.URL, "http://")+"\r\n\r\n")
	if resp, body := c.response(t, "GET"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	select {
	case <-closed:
	case <-time.After(bound):
		t.Fatal("the pooled origin connection was not closed after its idle timeout")
	}
}

// A response without Content-Type reaches the client without one: ferry
// does not add net/http's guess.
func TestForwardAddsNoContentType(t *testing.T) {
	target, _ := oneShotOrigin(t, "")
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "GET http://"+target+"/ HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	resp, body := c.response(t, "GET")
	if resp.StatusCode != 200 || body != "1" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if ct, ok := resp.Header["Content-Type"]; ok {
		t.Errorf("Content-Type %q added to a response that had none", ct)
	}
}

// A client that leaves while the origin has not answered yet ends the
// origin request: ferry closes its origin connection instead of waiting
// for an answer nobody reads.
func TestClientGoneEndsOriginRequest(t *testing.T) {
	gotRequest, originClosed := make(chan struct{}), make(chan error, 1)
	target := rawServer(t, func(n int, c net.Conn) {
		if n > 1 {
			return
		}
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			originClosed <- err
			return
		}
		close(gotRequest)
		_, err := br.ReadByte() // never answers: waits for ferry to close
		originClosed <- err
	})
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "GET http://"+target+"/slow HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	select {
	case <-gotRequest:
	case <-time.After(bound):
		t.Fatal("the origin got no request")
	}
	c.Close()
	select {
	case err := <-originClosed:
		if err != io.EOF {
			t.Errorf("origin connection: %v, want EOF (closed by ferry)", err)
		}
	case <-time.After(bound):
		t.Fatal("ferry kept waiting for the origin after its client left")
	}
	if rec := w.log.next(t); rec.Err == nil {
		t.Errorf("access record without an error: %+v", rec)
	}
}

// A response the origin cuts short before any of it left ferry (the head
// and the bytes after it are still in ferry's write buffer) gets ferry's
// own answer, 502 (504 for an origin that stalls) with Proxy-Status and
// an access record saying so, not a silent close. Once bytes reached the
// client, the response is cut short instead: a head cannot be taken back.
func TestOriginCutShortBeforeAnythingSent(t *testing.T) {
	big := strings.Repeat("b", 64<<10)
	tests := []struct {
		name, response string
		stall          bool
		status         int
		proxyStatus    string
	}{
		{"closed mid-body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nETag: \"x\"\r\n\r\nshort", false, 502, "http_protocol_error"},
		{"closed before the body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", false, 502, "http_protocol_error"},
		{"stalled mid-body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", true, 504, "connection_timeout"},
		{"closed after 64 KiB reached the client", "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + big, false, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			target := rawServer(t, func(_ int, c net.Conn) {
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, tt.response)
				if tt.stall {
					<-release
				}
			})
			w := newWorld(t, options{engine: tunnel.Config{IdleTimeout: 200 * time.Millisecond}})
			c := w.raw(t)
			c.send(t, "GET http://"+target+"/ HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
			resp, err := http.ReadResponse(c.br, nil)
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			ps := resp.Header.Get("Proxy-Status")
			if resp.StatusCode != tt.status || (tt.proxyStatus != "") != strings.Contains(ps, "error="+tt.proxyStatus) {
				t.Fatalf("got %d, Proxy-Status %q, body %.80q; want %d %s", resp.StatusCode, ps, body, tt.status, tt.proxyStatus)
			}
			if tt.proxyStatus != "" && (resp.Header.Get("ETag") != "" || !resp.Close) {
				t.Errorf("the answer carries the origin's fields or keeps the connection: %v", resp.Header)
			}
			if r := w.log.next(t); r.Status != tt.status || r.ProxyStatus != tt.proxyStatus || r.Err == nil {
				t.Errorf("access record status %d proxy_status %q err %v", r.Status, r.ProxyStatus, r.Err)
			}
		})
	}
}

// Interim responses share the response head's 1 MiB bound: an origin
// that sends large 103s without end gets 502 naming that bound, whatever
// line the bound cuts (they are few enough not to reach maxInterim first:
// TestInterimBound).
func TestOriginInterimFlood(t *testing.T) {
	hint := "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nX-Pad: " + strings.Repeat("p", 64<<10) + "\r\n\r\n"
	first := "HTTP/1.1 103 Early Hints\r\nX-Pad: \r\n\r\n"
	// The bound falls after byte at of a hint: inside the start line,
	// between its CR and LF, after it, inside the field line.
	for _, at := range []int{1, len("HTTP/1.1 103 Early Hints\r"), len("HTTP/1.1 103 Early Hints\r\n"), 40} {
		cut := ((1<<20)-at-len(first))%len(hint) + len(hint)
		t.Run(fmt.Sprint("bound after byte ", at), func(t *testing.T) {
			target := rawServer(t, func(_ int, c net.Conn) {
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, strings.Replace(first, "X-Pad: ", "X-Pad: "+strings.Repeat("p", cut), 1))
				for range (1<<20)/len(hint) + 2 {
					if _, err := io.WriteString(c, hint); err != nil {
						return
					}
				}
			})
			w := newWorld(t, options{})
			c := w.raw(t)
			c.send(t, "GET http://"+target+"/ HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
			for range (1<<20)/len(hint) + 3 {
				resp, err := http.ReadResponse(c.br, nil)
				if err != nil {
					t.Fatalf("reading responses: %v", err)
				}
				if resp.StatusCode == http.StatusEarlyHints {
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "response head over") {
					t.Fatalf("final response %d %q, want 502 naming the head's bound", resp.StatusCode, body)
				}
				return
			}
			t.Fatal("no final response")
		})
	}
}
