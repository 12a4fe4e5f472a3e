package connect_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/tunnel"
)

// A parent's 5xx that says why it failed, in Proxy-Status or, from
// squid, in X-Squid-Error, is passed on to a plain-HTTP client with a
// Proxy-Status member of ferry's saying the same (next-hop,
// received-status), and the access line carries the cause; one that
// says nothing ferry can read is passed on as it came. An answer is an
// answer: the parent stays in service.
func TestParentFailureCausePassedOn(t *testing.T) {
	const page = "<html>squid's page</html>"
	tests := []struct {
		name, fields string
		status       int
		ps           string   // the access line's proxy_status; "": no member of ferry's
		want         []string // in the Proxy-Status lines, joined
	}{
		{"squid DNS failure", "X-Squid-Error: ERR_DNS_FAIL 0\r\n", 503, "dns_error",
			[]string{`ferry; error=dns_error; details="upstream corp answered 503 (X-Squid-Error: ERR_DNS_FAIL 0)"; next-hop="corp"; received-status=503`}},
		{"squid connection refused", "X-Squid-Error: ERR_CONNECT_FAIL 111\r\n", 503, "connection_refused",
			[]string{`error=connection_refused`, `received-status=503`}},
		{"squid read timeout", "X-Squid-Error: ERR_READ_TIMEOUT 0\r\n", 504, "http_response_timeout",
			[]string{`error=http_response_timeout`, `received-status=504`}},
		{"the parent's own Proxy-Status", "Proxy-Status: up; error=connection_refused\r\nX-Squid-Error: ERR_DNS_FAIL 0\r\n", 502, "connection_refused",
			[]string{`up; error=connection_refused`, `ferry; error=connection_refused`}},
		{"a cause that is no server error", "Proxy-Status: up; error=http_request_denied\r\n", 503, "", nil},
		{"a bare 503", "", 503, "", nil},
		{"squid's page not known", "X-Squid-Error: ERR_ZERO_SIZE_OBJECT 0\r\n", 502, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := rawParent(t, fmt.Sprintf("HTTP/1.1 %d %s\r\n%sContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s",
				tt.status, http.StatusText(tt.status), tt.fields, len(page), page))
			w := newWorld(t, options{policy: routed(t, tunnel.RoutingSpec{
				Upstreams: []tunnel.UpstreamSpec{upstream(t, "corp", "http://"+parent)}, Default: "corp"})})
			c := w.raw(t)
			c.send(t, "GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\n")
			resp, body := c.response(t, http.MethodGet)
			ps := strings.Join(resp.Header.Values("Proxy-Status"), ", ")
			if resp.StatusCode != tt.status || body != page {
				t.Fatalf("%d %q, want the parent's %d and page", resp.StatusCode, body, tt.status)
			}
			for _, want := range tt.want {
				if !strings.Contains(ps, want) {
					t.Errorf("Proxy-Status %q lacks %q", ps, want)
				}
			}
			if tt.ps == "" && strings.Contains(ps, "ferry;") {
				t.Errorf("Proxy-Status %q: ferry added a member with no cause to give", ps)
			}
			rec := w.log.next(t)
			if rec.Status != tt.status || rec.ProxyStatus != tt.ps || (tt.ps != "") != (rec.Err != nil) {
				t.Errorf("logged status %d proxy_status %q err %v; want %d %q", rec.Status, rec.ProxyStatus, rec.Err, tt.status, tt.ps)
			}
			if !upstreamUp(t, w, "corp") {
				t.Error("the parent was taken out for an answer")
			}
		})
	}
}

// A CONNECT that a squid parent refuses with a cause in X-Squid-Error
// gets ferry's answer with that cause, not a bare destination_unavailable.
func TestParentConnectFailureCause(t *testing.T) {
	tests := []struct {
		name, squid string
		status      int
		ps          string
	}{
		{"DNS failure", "ERR_DNS_FAIL 0", 502, "dns_error"},
		{"connection refused", "ERR_CONNECT_FAIL 111", 502, "connection_refused"},
		{"connection timeout", "ERR_CONNECT_FAIL 110", 504, "connection_timeout"},
		{"not known", "ERR_SHUTTING_DOWN 0", 502, "destination_unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := rawParent(t, "HTTP/1.1 503 Service Unavailable\r\nX-Squid-Error: "+tt.squid+"\r\nContent-Length: 0\r\n\r\n")
			w := newWorld(t, options{policy: routed(t, tunnel.RoutingSpec{
				Upstreams: []tunnel.UpstreamSpec{upstream(t, "corp", "http://"+parent)}, Default: "corp"})})
			c := w.raw(t)
			c.send(t, "CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n")
			resp, _ := c.response(t, http.MethodConnect)
			ps := resp.Header.Get("Proxy-Status")
			if resp.StatusCode != tt.status || !strings.Contains(ps, "error="+tt.ps) || !strings.Contains(ps, "X-Squid-Error: "+tt.squid) ||
				!strings.Contains(ps, `next-hop="corp"; received-status=503`) {
				t.Errorf("%d, Proxy-Status %q; want %d %s naming the parent and squid's page", resp.StatusCode, ps, tt.status, tt.ps)
			}
			if rec := w.log.next(t); rec.Status != tt.status || rec.ProxyStatus != tt.ps {
				t.Errorf("logged status %d proxy_status %q; want %d %q", rec.Status, rec.ProxyStatus, tt.status, tt.ps)
			}
		})
	}
}
