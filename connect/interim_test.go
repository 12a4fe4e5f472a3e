package connect_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferry-proxy/ferry/tunnel"
)

// maxInterim is forward's bound on one request's interim responses.
const maxInterim = 32

// flood is more interim responses than maxInterim, in far less than the
// response head's 1 MiB bound, which is TestOriginInterimFlood's.
const flood = 10_000

// interimServer reads one request on each connection (origin-form or, as
// a parent, absolute-form) and answers it with n interim responses head
// (a status line and fields), then 200 "ok".
func interimServer(t *testing.T, head string, n int) string {
	return rawServer(t, func(_ int, c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		bw := bufio.NewWriter(c)
		for range n {
			bw.WriteString(head + "\r\n")
		}
		bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		bw.Flush()
	})
}

const (
	hint   = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n"
	cont   = "HTTP/1.1 100 Continue\r\n"
	stillv = "HTTP/1.1 102 Processing\r\n"
)

// readInterims reads the interim responses to a GET on c and the final
// one, and returns how many interim ones came, the final status and body.
func readInterims(t *testing.T, c *raw) (int, int, string) {
	t.Helper()
	for n := 0; n <= flood; n++ {
		resp, body := c.response(t, http.MethodGet)
		if resp.StatusCode >= 200 {
			return n, resp.StatusCode, body
		}
	}
	t.Fatal("no final response")
	return 0, 0, ""
}

// An origin may send a few interim responses (RFC 9110 §15.2), and they
// are passed on (but 100 Continue, ferry's own to send); one that sends
// them without end, however small, is cut off at maxInterim with 502
// naming the bound, as one whose head outgrows its 1 MiB is.
func TestInterimBound(t *testing.T) {
	tests := []struct {
		name, head string
		n          int
		passed     int // interim responses the client gets
		status     int
	}{
		{"as many hints as allowed", hint, maxInterim, maxInterim, 200},
		{"endless hints", hint, flood, maxInterim, 502},
		{"endless 100 Continue", cont, flood, 0, 502},
		{"endless 102 Processing", stillv, flood, maxInterim, 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := interimServer(t, tt.head, tt.n)
			w := newWorld(t, options{})
			c := w.raw(t)
			c.send(t, "GET http://"+target+"/ HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
			passed, status, body := readInterims(t, c)
			if passed != tt.passed || status != tt.status {
				t.Fatalf("%d interim responses, then %d %q; want %d, then %d", passed, status, body, tt.passed, tt.status)
			}
			if status == 502 && !strings.Contains(body, fmt.Sprintf("more than %d interim", maxInterim)) {
				t.Errorf("502 %q does not name the bound", body)
			}
			if rec := w.log.next(t); rec.Status != tt.status {
				t.Errorf("logged status %d, want %d", rec.Status, tt.status)
			}
		})
	}
}

// A client on HTTP/2 gets the same: the interim responses up to the
// bound as HEADERS of their own, then 502.
func TestInterimBoundH2Client(t *testing.T) {
	target := interimServer(t, hint, flood)
	w := newH2World(t, options{})
	var got atomic.Int64
	trace := &httptrace.ClientTrace{Got1xxResponse: func(int, textproto.MIMEHeader) error { got.Add(1); return nil }}
	req, _ := http.NewRequest(http.MethodGet, "http://"+target+"/", nil)
	res, err := w.h2(t).RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 502 || got.Load() != maxInterim {
		t.Fatalf("%d interim responses, then %d %q; want %d, then 502", got.Load(), res.StatusCode, body, maxInterim)
	}
}

// Through a parent, HTTP/1.1 or HTTP/2, the bound holds the same, and the
// parent, which passed on what the origin sent, stays in service.
func TestInterimBoundThroughParent(t *testing.T) {
	var h2seen atomic.Bool
	h2parent := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h2seen.Store(r.ProtoMajor == 2)
		w.Header().Set("Link", "</a.css>; rel=preload")
		for range flood {
			if r.Context().Err() != nil {
				return
			}
			w.WriteHeader(http.StatusEarlyHints)
		}
		io.WriteString(w, "ok")
	}))
	h2parent.EnableHTTP2 = true
	h2parent.StartTLS()
	t.Cleanup(h2parent.Close)
	tests := []struct {
		name string
		spec tunnel.UpstreamSpec
	}{
		{"HTTP/1.1", upstream(t, "corp", "http://"+interimServer(t, hint, flood))},
		{"HTTP/2", h2Upstream(t, "corp", h2parent)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, options{policy: routed(t, tunnel.RoutingSpec{Upstreams: []tunnel.UpstreamSpec{tt.spec}, Default: "corp"})})
			c := w.raw(t)
			c.send(t, "GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\n")
			passed, status, body := readInterims(t, c)
			if passed != maxInterim || status != 502 || !strings.Contains(body, fmt.Sprintf("more than %d interim", maxInterim)) {
				t.Fatalf("%d interim responses, then %d %q; want %d, then 502 naming the bound", passed, status, body, maxInterim)
			}
			if rec := w.log.next(t); rec.Status != 502 || rec.Upstream != "corp" {
				t.Errorf("logged status %d upstream %q", rec.Status, rec.Upstream)
			}
			if !upstreamUp(t, w, "corp") {
				t.Error("the parent was taken out for an origin's interim responses")
			}
			if tt.spec.HTTP2 && !h2seen.Load() {
				t.Error("the request did not reach the parent on HTTP/2")
			}
		})
	}
}

// A response head over its 1 MiB bound through an HTTP/1.1 parent is the
// origin's, passed on: 502, and the parent stays in service.
func TestHugeHeadThroughParent(t *testing.T) {
	parent, _ := oneShotOrigin(t, "X-Big: "+strings.Repeat("a", 2<<20)+"\r\n")
	w := newWorld(t, options{policy: routed(t, tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{upstream(t, "corp", "http://"+parent)}, Default: "corp"})})
	c := w.raw(t)
	c.send(t, "GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\n")
	resp, body := c.response(t, http.MethodGet)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "response head over") ||
		!strings.Contains(resp.Header.Get("Proxy-Status"), `next-hop="corp"`) {
		t.Fatalf("%d %q, Proxy-Status %q; want 502 naming the bound and the parent", resp.StatusCode, body, resp.Header.Get("Proxy-Status"))
	}
	if !upstreamUp(t, w, "corp") {
		t.Error("the parent was taken out for passing on an origin's huge head")
	}
}

// An interim response passed on carries ferry's Via with the version it
// came on, as every message a proxy forwards must (RFC 9110 §7.6.3): from
// an HTTP/1.1 origin "1.1 ferry", from an HTTP/2 parent "2 ferry" after
// the parent's own.
func TestInterimCarriesVia(t *testing.T) {
	h2parent := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.Header().Set("Via", "1.1 parent")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "ok")
	}))
	h2parent.EnableHTTP2 = true
	h2parent.StartTLS()
	t.Cleanup(h2parent.Close)
	tests := []struct {
		name   string
		policy *tunnel.Policy
		want   []string
	}{
		{"HTTP/1.1 origin", nil, []string{"1.1 ferry"}},
		{"HTTP/2 parent", routed(t, tunnel.RoutingSpec{Default: "corp", Upstreams: []tunnel.UpstreamSpec{
			h2Upstream(t, "corp", h2parent)}}),
			[]string{"1.1 parent", "2 ferry"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := interimServer(t, hint, 1)
			w := newWorld(t, options{policy: tt.policy})
			c := w.raw(t)
			c.send(t, "GET http://"+target+"/ HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
			resp, _ := c.response(t, http.MethodGet)
			if resp.StatusCode != http.StatusEarlyHints || resp.Header.Get("Link") == "" {
				t.Fatalf("%d %v, want the 103 with its Link", resp.StatusCode, resp.Header)
			}
			if got := resp.Header.Values("Via"); strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
				t.Errorf("103 Via %q, want %q", got, tt.want)
			}
			if resp, _ := c.response(t, http.MethodGet); resp.StatusCode != 200 {
				t.Errorf("final %d, want 200", resp.StatusCode)
			}
		})
	}
}
