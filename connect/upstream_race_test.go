package connect_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferry-proxy/ferry/tunnel"
)

// racingParent answers the first request of each connection and keeps the
// connection open; it closes the connection on reading a second request
// (its body too, unless it waits for 100 Continue), without a byte of
// answer: a parent whose keep-alive timeout ran out while that request
// was on its way (RFC 9112 §9.3.1). With closeFresh it closes its first
// connection's first request unanswered too.
func racingParent(t *testing.T, closeFresh bool) (addr string, conns *atomic.Int64) {
	conns = new(atomic.Int64)
	addr = rawServer(t, func(n int, c net.Conn) {
		conns.Add(1)
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			expect := req.Header.Get("Expect") == "100-continue"
			if i > 0 || closeFresh && n == 1 {
				if !expect {
					io.Copy(io.Discard, req.Body)
				}
				return
			}
			if expect {
				io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
			}
			io.Copy(io.Discard, req.Body)
			body := fmt.Sprint(n)
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}
	})
	return addr, conns
}

func upstreamUp(t *testing.T, w *world, name string) bool {
	t.Helper()
	for _, s := range w.engine.UpstreamStates() {
		if s.Name == name {
			return s.Up
		}
	}
	t.Fatalf("no upstream %q", name)
	return false
}

// A pooled connection to an HTTP/1.1 parent that the parent closes before
// any byte of the answer (the keep-alive race) is no failure of the
// parent's: a request that may be repeated goes once more on a fresh
// connection, one that may not gets 502, and the parent stays in service
// either way, as an origin in the same race is just an origin.
func TestForwardParentKeepAliveRace(t *testing.T) {
	tests := []struct {
		name, method, fields, body string
		status                     int
		conns                      int64
	}{
		{"GET is sent again", "GET", "", "", 200, 2},
		{"PUT with its body is sent again", "PUT", "", "data", 200, 2},
		{"PUT with its body not yet read is sent again", "PUT", "Expect: 100-continue\r\n", "data", 200, 2},
		{"POST is not", "POST", "", "data", 502, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, conns := racingParent(t, false)
			w := newWorld(t, options{policy: routed(t, tunnel.RoutingSpec{
				Upstreams: []tunnel.UpstreamSpec{upstream(t, "corp", "http://"+parent)},
				Default:   "corp",
			})})
			c := w.raw(t)
			c.send(t, "GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\n")
			if resp, body := c.response(t, "GET"); resp.StatusCode != 200 || body != "1" {
				t.Fatalf("first request: %d %q", resp.StatusCode, body)
			}
			w.log.next(t)
			c.send(t, fmt.Sprintf("%s http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n%sContent-Length: %d\r\n\r\n%s",
				tt.method, tt.fields, len(tt.body), tt.body))
			resp, body := c.response(t, tt.method)
			if resp.StatusCode == http.StatusContinue {
				resp, body = c.response(t, tt.method)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("%s on the pooled conn the parent closed: %d %q, want %d", tt.method, resp.StatusCode, body, tt.status)
			}
			if tt.status == 200 && body != "2" {
				t.Errorf("answer %q, want the fresh connection's", body)
			}
			if ps := resp.Header.Get("Proxy-Status"); tt.status != 200 && !strings.Contains(ps, `next-hop="corp"`) {
				t.Errorf("Proxy-Status %q does not name the parent", ps)
			}
			if got := conns.Load(); got != tt.conns {
				t.Errorf("parent accepted %d connections, want %d", got, tt.conns)
			}
			if rec := w.log.next(t); rec.Status != tt.status || rec.Upstream != "corp" {
				t.Errorf("logged status %d upstream %q", rec.Status, rec.Upstream)
			}
			if !upstreamUp(t, w, "corp") {
				t.Error("the parent was taken out for closing an idle keep-alive connection")
			}
		})
	}
}

// A parent that closes a fresh connection without answering failed: it is
// taken out.
func TestForwardParentClosesFreshConn(t *testing.T) {
	parent, _ := racingParent(t, true)
	w := newWorld(t, options{policy: routed(t, tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{upstream(t, "corp", "http://"+parent)},
		Default:   "corp",
	})})
	c := w.raw(t)
	c.send(t, "GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\n")
	resp, body := c.response(t, "GET")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(resp.Header.Get("Proxy-Status"), `next-hop="corp"`) {
		t.Fatalf("%d %q, Proxy-Status %q; want 502 naming the parent", resp.StatusCode, body, resp.Header.Get("Proxy-Status"))
	}
	if upstreamUp(t, w, "corp") {
		t.Error("a parent that closed a fresh connection unanswered stayed in service")
	}
}
