package connect_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/tunnel"
)

// statusServer answers every request (origin-form or, as a parent,
// absolute-form) with the status line line and a body "ok".
func statusServer(t *testing.T, line string) string {
	return rawServer(t, func(_ int, c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		fmt.Fprintf(c, "%s\r\nContent-Length: 2\r\n\r\nok", line)
	})
}

// A status code is 100-599 (RFC 9110 §15); the three digits beyond are
// invalid, and ferry cannot tell its client what the origin meant by one:
// 502 with http_protocol_error, never the code with a reason made up.
func TestStatusOutOfRange(t *testing.T) {
	tests := []struct {
		line   string
		status int
	}{
		{"HTTP/1.1 599 Last", 599},
		{"HTTP/1.1 600 First Beyond", 502},
		{"HTTP/1.1 799 Whatever", 502},
		{"HTTP/1.1 999", 502},
		{"HTTP/1.1 +99 Signed", 502},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			target := statusServer(t, tt.line)
			w := newWorld(t, options{})
			c := w.raw(t)
			c.send(t, "GET http://"+target+"/ HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
			resp, body := c.response(t, http.MethodGet)
			if resp.StatusCode != tt.status {
				t.Fatalf("%s: %d %q, want %d", tt.line, resp.StatusCode, body, tt.status)
			}
			rec := w.log.next(t)
			if tt.status == 502 && (rec.ProxyStatus != "http_protocol_error" ||
				!strings.HasPrefix(resp.Header.Get("Proxy-Status"), "ferry; error=http_protocol_error")) {
				t.Errorf("Proxy-Status %q, logged %q; want http_protocol_error", resp.Header.Get("Proxy-Status"), rec.ProxyStatus)
			}
		})
	}
}

// Through a parent, HTTP/1.1 or HTTP/2, the code is the origin's, passed
// on: 502 naming the parent, which stays in service.
func TestStatusOutOfRangeThroughParent(t *testing.T) {
	h2parent := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(799)
	}))
	h2parent.EnableHTTP2 = true
	h2parent.StartTLS()
	t.Cleanup(h2parent.Close)
	tests := []struct {
		name string
		spec tunnel.UpstreamSpec
	}{
		{"HTTP/1.1", upstream(t, "corp", "http://"+statusServer(t, "HTTP/1.1 799 Whatever"))},
		{"HTTP/2", h2Upstream(t, "corp", h2parent)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, options{policy: routed(t, tunnel.RoutingSpec{Upstreams: []tunnel.UpstreamSpec{tt.spec}, Default: "corp"})})
			c := w.raw(t)
			c.send(t, "GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\n")
			resp, body := c.response(t, http.MethodGet)
			ps := resp.Header.Get("Proxy-Status")
			if resp.StatusCode != 502 || !strings.Contains(ps, "error=http_protocol_error") || !strings.Contains(ps, `next-hop="corp"`) {
				t.Fatalf("%d %q, Proxy-Status %q; want 502 http_protocol_error naming the parent", resp.StatusCode, body, ps)
			}
			if rec := w.log.next(t); rec.Status != 502 || rec.Upstream != "corp" {
				t.Errorf("logged status %d upstream %q", rec.Status, rec.Upstream)
			}
			if !upstreamUp(t, w, "corp") {
				t.Error("the parent was taken out for an origin's status code")
			}
		})
	}
}
