package connect_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/front"
	"github.com/ferry-proxy/ferry/socks"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
)

// routed is a policy sending every request through the upstream
// (or group) def, built from spec.
func routed(t testing.TB, spec tunnel.RoutingSpec) *tunnel.Policy {
	t.Helper()
	rt, err := tunnel.NewRoutes(spec)
	if err != nil {
		t.Fatal(err)
	}
	return &tunnel.Policy{Routes: rt}
}

func upstream(t testing.TB, name, raw string) tunnel.UpstreamSpec {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return tunnel.UpstreamSpec{Name: name, URL: u}
}

// h2Upstream is an upstream named name speaking HTTP/2 to srv, a TLS test
// server whose certificate it trusts.
func h2Upstream(t testing.TB, name string, srv *httptest.Server) tunnel.UpstreamSpec {
	spec := upstream(t, name, srv.URL)
	spec.HTTP2 = true
	spec.TLS = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	return spec
}

func hello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Origin-Saw", r.URL.String())
	io.WriteString(w, "hello from the origin")
}

// Plain HTTP through an HTTP upstream goes to it in absolute form (it
// logs a plain-HTTP request, not a tunnel) over one pooled connection.
func TestForwardThroughHTTPUpstream(t *testing.T) {
	o := newOrigin(t, hello)
	parent := newWorld(t, options{})
	child := newWorld(t, options{policy: routed(t, tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{upstream(t, "parent", "http://"+parent.addr)},
		Default:   "parent",
	})})
	c := child.client(t)
	for i := range 2 {
		resp, err := c.Get(o.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "hello from the origin" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, b)
		}
		if via := resp.Header.Values("Via"); len(via) != 2 {
			t.Errorf("Via %q: want the parent's and the child's", via)
		}
		prec := parent.log.next(t)
		if prec.Proto != tunnel.ProtoHTTP || prec.URL != o.URL+"/x" {
			t.Errorf("parent logged %s %q, want a plain-HTTP request for %s/x", prec.Proto, prec.URL, o.URL)
		}
		crec := child.log.next(t)
		if crec.Route != "default" || crec.Upstream != "parent" || crec.Dialed != parent.addr || crec.Status != 200 {
			t.Errorf("child logged route %q upstream %q dialed %q status %d", crec.Route, crec.Upstream, crec.Dialed, crec.Status)
		}
	}
	if n := parent.clients.n.Load(); n != 1 {
		t.Errorf("parent accepted %d connections for 2 requests, want 1 (keep-alive)", n)
	}
}

// The first member of a group is down: the same request goes to the next.
// A parent that refuses ferry's credentials gets 502, not the client a 407.
func TestForwardUpstreamFailures(t *testing.T) {
	o := newOrigin(t, hello)
	parent := newWorld(t, options{})
	auth407 := rawParent(t, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n")
	tests := []struct {
		name     string
		spec     tunnel.RoutingSpec
		status   int
		upstream string
		ps       []string // in Proxy-Status
	}{
		{"failover past a dead member", tunnel.RoutingSpec{
			Upstreams: []tunnel.UpstreamSpec{upstream(t, "dead", "http://"+closedAddr(t)), upstream(t, "ok", "http://"+parent.addr)},
			Groups:    []tunnel.GroupSpec{{Name: "g", Members: []string{"dead", "ok"}}},
			Default:   "g",
		}, 200, "ok", nil},
		{"failover past a 407", tunnel.RoutingSpec{
			Upstreams: []tunnel.UpstreamSpec{upstream(t, "auth", "http://"+auth407), upstream(t, "ok", "http://"+parent.addr)},
			Groups:    []tunnel.GroupSpec{{Name: "g", Members: []string{"auth", "ok"}}},
			Default:   "g",
		}, 200, "ok", nil},
		{"407 alone", tunnel.RoutingSpec{
			Upstreams: []tunnel.UpstreamSpec{upstream(t, "auth", "http://u:wrong@"+auth407)},
			Default:   "auth",
		}, 502, "auth", []string{"error=proxy_configuration_error", `next-hop="auth"`, "received-status=407"}},
		{"every member down", tunnel.RoutingSpec{
			Upstreams: []tunnel.UpstreamSpec{upstream(t, "a", "http://"+closedAddr(t)), upstream(t, "b", "http://"+closedAddr(t))},
			Groups:    []tunnel.GroupSpec{{Name: "g", Members: []string{"a", "b"}}},
			Default:   "g",
		}, 502, "b", []string{"error=connection_refused", `next-hop="b"`, "every upstream of g failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			child := newWorld(t, options{policy: routed(t, tt.spec)})
			resp, err := child.client(t).Get(o.URL + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (Proxy-Status %q)", resp.StatusCode, tt.status, resp.Header.Get("Proxy-Status"))
			}
			for _, want := range tt.ps {
				if ps := resp.Header.Get("Proxy-Status"); !strings.Contains(ps, want) {
					t.Errorf("Proxy-Status %q lacks %q", ps, want)
				}
			}
			if rec := child.log.next(t); rec.Upstream != tt.upstream {
				t.Errorf("logged upstream %q, want %q", rec.Upstream, tt.upstream)
			}
		})
	}
}

// rawParent answers every request with answer.
func rawParent(t testing.TB, answer string) string {
	t.Helper()
	return rawServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(c, answer)
		}
	})
}

// socksParent is ferry's SOCKS front end on loopback.
func socksParent(t testing.TB) string {
	t.Helper()
	engine := tunnel.New(tunnel.Config{DialTimeout: bound}, nil)
	mux := &front.Mux{SOCKS: socks.New(engine, make(sink, 16), zerolog.Nop()), HandshakeTimeout: bound}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go mux.Serve(ln, front.SOCKS)
	t.Cleanup(func() {
		mux.Close()
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		defer cancel()
		mux.Drain(ctx)
	})
	return ln.Addr().String()
}

// Through a SOCKS upstream, plain HTTP dials the origin through it.
func TestForwardThroughSOCKSUpstream(t *testing.T) {
	o := newOrigin(t, hello)
	parent := socksParent(t)
	child := newWorld(t, options{policy: routed(t, tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{upstream(t, "s", "socks5h://"+parent)},
		Default:   "s",
	})})
	resp, err := child.client(t).Get(o.URL + "/y")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hello from the origin" {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
	if rec := child.log.next(t); rec.Upstream != "s" || rec.Dialed != parent {
		t.Errorf("logged upstream %q dialed %q, want s, %s", rec.Upstream, rec.Dialed, parent)
	}
	if o.conns.Load() != 1 {
		t.Errorf("origin saw %d conns", o.conns.Load())
	}
}

// An upstream's own policy denying is the client's answer: 403, saying
// which upstream, and the upstream stays in.
func TestConnectDeniedByUpstream(t *testing.T) {
	parent := rawParent(t, "HTTP/1.1 403 Forbidden\r\nProxy-Status: p; error=http_request_denied\r\nContent-Length: 0\r\n\r\n")
	child := newWorld(t, options{policy: routed(t, tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{upstream(t, "corp", "http://"+parent)},
		Default:   "corp",
	})})
	c := child.raw(t)
	c.send(t, "CONNECT blocked.example:443 HTTP/1.1\r\nHost: blocked.example:443\r\n\r\n")
	resp, body := c.response(t, http.MethodConnect)
	ps := resp.Header.Get("Proxy-Status")
	if resp.StatusCode != 403 || !strings.Contains(ps, "error=http_request_denied") || !strings.Contains(ps, `next-hop="corp"`) ||
		!strings.Contains(body, "denied by upstream corp") {
		t.Fatalf("%d %q, Proxy-Status %q", resp.StatusCode, body, ps)
	}
	if rec := child.log.next(t); rec.Decision != "deny" || rec.Upstream != "corp" || rec.Status != 403 {
		t.Errorf("logged decision %q upstream %q status %d", rec.Decision, rec.Upstream, rec.Status)
	}
}
