package connect_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
)

// seenRequest is what an origin received: the request line's target and
// version, the fields and the body.
type seenRequest struct {
	target, proto string
	header        http.Header
	body          string
}

// capturingOrigin records every request it gets and answers 200 "ok",
// on keep-alive conns. It is raw: net/http would answer OPTIONS * itself.
func capturingOrigin(t *testing.T) (*capturing, chan seenRequest) {
	seen := make(chan seenRequest, 16)
	addr := rawServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			b, _ := io.ReadAll(r.Body)
			seen <- seenRequest{target: r.RequestURI, proto: r.Proto, header: r.Header, body: string(b)}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	return &capturing{host: addr, URL: "http://" + addr}, seen
}

// capturing names a capturingOrigin as origin does an httptest one.
type capturing struct{ host, URL string }

// nextSeen is the next request the origin got, within bound.
func nextSeen(t *testing.T, seen chan seenRequest) seenRequest {
	t.Helper()
	select {
	case r := <-seen:
		return r
	case <-time.After(bound):
		t.Fatal("origin got no request")
		return seenRequest{}
	}
}

// noRequest fails t if the origin got a request.
func noRequest(t *testing.T, seen chan seenRequest) {
	t.Helper()
	select {
	case r := <-seen:
		t.Errorf("origin got %s %v, want nothing forwarded", r.target, r.header)
	default:
	}
}

// RFC 9110 §7.6.2: a TRACE or OPTIONS with Max-Forwards: 0 is answered by
// ferry as its final recipient (TRACE echoes the request, credentials
// left out, §9.3.8); with more it is forwarded one lower; other methods
// pass it untouched.
func TestMaxForwards(t *testing.T) {
	tests := []struct {
		name, method, maxForwards string
		forwarded                 string // the Max-Forwards the origin gets; "" none: ferry answers
	}{
		{"options 0", "OPTIONS", "0", ""},
		{"trace 0", "TRACE", "0", ""},
		{"options 5", "OPTIONS", "5", "4"},
		{"trace 1", "TRACE", "1", "0"},
		{"get 0", "GET", "0", "0"},
		{"delete 3", "DELETE", "3", "3"},
		{"options not a number", "OPTIONS", "x", "x"},
		// Beyond what ferry counts: still a number above 0, sent on as
		// the most ferry supports less one (§7.6.2: MUST update).
		{"trace beyond int64", "TRACE", "99999999999999999999", "9223372036854775806"},
		{"options signed", "OPTIONS", "+3", "+3"},
	}
	o, seen := capturingOrigin(t)
	w := newWorld(t, options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := w.raw(t)
			c.send(t, tt.method+" "+o.URL+"/x HTTP/1.1\r\nHost: "+o.host+"\r\nMax-Forwards: "+tt.maxForwards+
				"\r\nAuthorization: Basic c2VjcmV0\r\nCookie: id=secret\r\nX-Probe: 1\r\n\r\n")
			resp, body := c.response(t, tt.method)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			w.log.next(t)
			if tt.forwarded != "" {
				r := nextSeen(t, seen)
				if got := r.header.Get("Max-Forwards"); got != tt.forwarded {
					t.Errorf("origin got Max-Forwards %q, want %q", got, tt.forwarded)
				}
				return
			}
			noRequest(t, seen)
			if strings.Contains(resp.Header.Get("Via"), "ferry") {
				t.Errorf("ferry's own answer carries Via %q", resp.Header.Get("Via"))
			}
			if tt.method != "TRACE" {
				if body != "" {
					t.Errorf("OPTIONS answer body %q, want none", body)
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "message/http" {
				t.Errorf("TRACE answer Content-Type %q, want message/http", ct)
			}
			if !strings.HasPrefix(body, "TRACE "+o.URL+"/x HTTP/1.1\r\n") || !strings.Contains(body, "X-Probe: 1\r\n") ||
				strings.Contains(body, "secret") || !strings.HasSuffix(body, "\r\n\r\n") {
				t.Errorf("TRACE echo %q: want the request, without Authorization and Cookie", body)
			}
		})
	}
}

// Max-Forwards counts every ferry on the way: through a parent, a TRACE
// with 1 is answered by the parent, and the origin sees nothing.
func TestMaxForwardsThroughUpstream(t *testing.T) {
	o, seen := capturingOrigin(t)
	parent := newWorld(t, options{})
	child := newWorld(t, options{policy: routed(t, tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{upstream(t, "parent", "http://"+parent.addr)},
		Default:   "parent",
	})})
	c := child.raw(t)
	c.send(t, "TRACE "+o.URL+"/x HTTP/1.1\r\nHost: "+o.host+"\r\nMax-Forwards: 1\r\n\r\n")
	resp, body := c.response(t, "TRACE")
	if resp.StatusCode != 200 || !strings.Contains(body, "Max-Forwards: 0\r\n") || !strings.Contains(body, "Via: 1.1 ferry") {
		t.Errorf("answer %d %q, want the parent's echo of the child's request (Max-Forwards 0, Via)", resp.StatusCode, body)
	}
	parent.log.next(t)
	child.log.next(t)
	noRequest(t, seen)
}

// RFC 9110 §10.1.1: an expectation other than 100-continue gets 417,
// nothing forwarded; a 100-continue from an HTTP/1.0 client is ignored,
// so the origin is not asked to hold back a body that is already coming.
func TestExpectations(t *testing.T) {
	o, seen := capturingOrigin(t)
	w := newWorld(t, options{})

	c := w.raw(t)
	c.send(t, "PUT "+o.URL+"/x HTTP/1.1\r\nHost: "+o.host+"\r\nExpect: 100-continue, x-unknown\r\nContent-Length: 2\r\n\r\nhi")
	resp, _ := c.response(t, "PUT")
	if resp.StatusCode != http.StatusExpectationFailed || !strings.Contains(resp.Header.Get("Proxy-Status"), "error=http_request_error") {
		t.Errorf("unknown expectation: %d %q, want 417 with Proxy-Status", resp.StatusCode, resp.Header.Get("Proxy-Status"))
	}
	if rec := w.log.next(t); rec.Status != http.StatusExpectationFailed {
		t.Errorf("logged status %d, want 417", rec.Status)
	}
	noRequest(t, seen)

	c = w.raw(t)
	c.send(t, "PUT "+o.URL+"/x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi")
	resp, body := c.response(t, "PUT")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("HTTP/1.0 with Expect: %d %q, want 200 ok", resp.StatusCode, body)
	}
	w.log.next(t)
	if r := nextSeen(t, seen); r.header.Get("Expect") != "" || r.body != "hi" {
		t.Errorf("origin got Expect %q and body %q, want no Expect and the body", r.header.Get("Expect"), r.body)
	}
}

// RFC 9112 §3.2.4: an OPTIONS for a URI with an empty path asks about the
// server; the last proxy sends it as "*", one before it keeps the path
// empty. A query makes it a resource's again.
func TestOptionsServerWide(t *testing.T) {
	o, seen := capturingOrigin(t)
	direct := newWorld(t, options{})
	child := newWorld(t, options{policy: routed(t, tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{upstream(t, "parent", "http://"+direct.addr)},
		Default:   "parent",
	})})
	tests := []struct {
		name   string
		w      *world
		target string
		want   string
	}{
		{"direct", direct, o.URL, "*"},
		{"through an upstream", child, o.URL, "*"},
		{"with a query", direct, o.URL + "?q", "/?q"},
		{"with a path", direct, o.URL + "/", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.w.raw(t)
			c.send(t, "OPTIONS "+tt.target+" HTTP/1.1\r\nHost: "+o.host+"\r\n\r\n")
			if resp, _ := c.response(t, "OPTIONS"); resp.StatusCode != 200 {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			if r := nextSeen(t, seen); r.target != tt.want {
				t.Errorf("origin got request-target %q, want %q", r.target, tt.want)
			}
		})
	}
}

// OPTIONS * sent to ferry asks about ferry itself (RFC 9110 §9.3.7): it
// is answered 200 with no content, with Max-Forwards 0 or none (ferry is
// its final recipient either way), and the connection carries on.
func TestOptionsToFerry(t *testing.T) {
	w := newWorld(t, options{})
	for _, head := range []string{
		"OPTIONS * HTTP/1.1\r\nHost: ferry.test\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: ferry.test\r\nMax-Forwards: 0\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: ferry.test\r\nMax-Forwards: 5\r\n\r\n",
	} {
		c := w.raw(t)
		c.send(t, head)
		resp, body := c.response(t, "OPTIONS")
		if resp.StatusCode != 200 || resp.ContentLength != 0 || body != "" {
			t.Errorf("%q: %d (length %d) %q, want 200 with no content", head, resp.StatusCode, resp.ContentLength, body)
		}
		if r := w.log.next(t); r.Status != 200 || r.Method != "OPTIONS" {
			t.Errorf("logged %d %s", r.Status, r.Method)
		}
		c.send(t, "GET / HTTP/1.1\r\nHost: ferry.test\r\n\r\n")
		if resp, _ := c.response(t, "GET"); resp.StatusCode != 200 {
			t.Errorf("the next request on the connection: %d, want 200", resp.StatusCode)
		}
		w.log.next(t)
	}
}

// RFC 9110 §7.6.1, §10.1.4: a TE ferry sends on is named in Connection, as
// every hop-by-hop field its sender adds must be; with an upgrade too.
func TestSentHopByHopFieldsNamedInConnection(t *testing.T) {
	tests := []struct {
		name, fields string
		want         []string // Connection options the origin must see
	}{
		{"te", "TE: trailers, deflate\r\nConnection: TE\r\n", []string{"te"}},
		{"te unnamed by the client", "TE: trailers\r\n", []string{"te"}},
		{"te and upgrade", "TE: trailers\r\nConnection: Upgrade, TE\r\nUpgrade: x-test\r\n", []string{"upgrade", "te"}},
	}
	o, seen := capturingOrigin(t)
	w := newWorld(t, options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := w.raw(t)
			c.send(t, "GET "+o.URL+"/x HTTP/1.1\r\nHost: "+o.host+"\r\n"+tt.fields+"\r\n")
			c.response(t, "GET")
			r := nextSeen(t, seen)
			if te := r.header.Get("Te"); te != "trailers" {
				t.Errorf("origin got TE %q, want trailers", te)
			}
			var got []string
			for _, v := range r.header.Values("Connection") {
				for o := range strings.SplitSeq(v, ",") {
					got = append(got, strings.ToLower(strings.TrimSpace(o)))
				}
			}
			for _, opt := range tt.want {
				if !strings.Contains(strings.Join(got, " "), opt) {
					t.Errorf("origin got Connection %q, want it to name %s", got, opt)
				}
			}
		})
	}
}
