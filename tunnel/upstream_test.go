package tunnel_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
)

func parseURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// engineWith returns an engine allowing everything whose requests go by
// spec; its checkers stop at cleanup.
func engineWith(t testing.TB, cfg tunnel.Config, spec tunnel.RoutingSpec) (*tunnel.Engine, *tunnel.Routes) {
	t.Helper()
	rt, err := tunnel.NewRoutes(spec)
	if err != nil {
		t.Fatal(err)
	}
	e := tunnel.New(cfg, nil)
	t.Cleanup(e.Close)
	e.SetPolicy(&tunnel.Policy{Routes: rt})
	return e, rt
}

// oneUpstream routes everything through one upstream named corp.
func oneUpstream(t testing.TB, rawURL string) (*tunnel.Engine, *tunnel.Upstream) {
	t.Helper()
	e, rt := engineWith(t, tunnel.Config{DialTimeout: bound}, tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{{Name: "corp", URL: parseURL(t, rawURL)}},
		Default:   "corp",
	})
	return e, rt.Upstreams()["corp"]
}

func targetOf(t testing.TB, hostport string) *tunnel.Request {
	t.Helper()
	host, port, err := tunnel.SplitTarget(hostport)
	if err != nil {
		t.Fatal(err)
	}
	return request(host, port)
}

// echoes checks that c carries bytes to an echo server and back.
func echoes(t testing.TB, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(bound))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "ping" {
		t.Fatalf("echo: %q, %v", b, err)
	}
}

// The answer to CONNECT is read without taking a byte past it: the target's
// first bytes, sent in the same segment, are still there, and the conn is
// the raw socket, which the relay splices.
func TestUpstreamHTTPKeepsRawConnAndSplices(t *testing.T) {
	parent := serveLoopback(t, loopbackListener(t), func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\nVia: 1.1 parent\r\n\r\nhello")
		io.Copy(c, br)
		c.(*net.TCPConn).CloseWrite()
	})
	e, _ := oneUpstream(t, "http://"+parent)
	req := targetOf(t, "origin.test:443")
	c, out, err := e.Open(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := tunnel.TCPOf(c); !ok {
		t.Fatalf("Dial returned %T over a plain parent: the relay could not splice", c)
	}
	c.SetReadDeadline(time.Now().Add(bound))
	b := make([]byte, 5)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "hello" {
		t.Fatalf("first bytes after the head: %q, %v", b, err)
	}
	c.SetReadDeadline(time.Time{})
	if out.Route != "default" || out.Upstream != "corp" || out.Dialed != parent {
		t.Errorf("log route %q upstream %q dialed %q; want default, corp, %s", out.Route, out.Upstream, out.Dialed, parent)
	}

	client, pc := tcpPair(t)
	before := tunnel.SplicedChunks()
	done := make(chan error, 1)
	tunnel.Start(context.Background(), pc, c, 0, func(_ tunnel.Stats, err error) { done <- err })
	payload := pattern(256<<10, 3)
	go writeAndCloseWrite(client, payload)
	if got := readAll(t, client); !bytes.Equal(got, payload) {
		t.Fatalf("echoed %d bytes, want %d", len(got), len(payload))
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Relay: %v", err)
		}
	case <-time.After(bound):
		t.Fatal("relay did not end")
	}
	if tunnel.SplicedChunks() <= before {
		t.Error("the relay through an upstream did not splice")
	}
}

func TestUpstreamHTTPAnswers(t *testing.T) {
	big := "HTTP/1.1 200 OK\r\nX-Pad: " + strings.Repeat("a", 20<<10) + "\r\n\r\n"
	tests := []struct {
		name     string
		parent   func(t testing.TB) string
		want     tunnel.Kind
		down     bool
		received int
	}{
		{"407", func(t testing.TB) string {
			return answeringParent(t, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
		}, tunnel.UpstreamAuth, true, 407},
		{"503", func(t testing.TB) string {
			return answeringParent(t, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
		}, tunnel.UpstreamFailed, true, 503},
		{"502 without a reason", func(t testing.TB) string {
			return answeringParent(t, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		}, tunnel.UpstreamFailed, true, 502},
		{"502 dns_error is the target's", func(t testing.TB) string {
			return answeringParent(t, "HTTP/1.1 502 Bad Gateway\r\nProxy-Status: other, up; error=dns_error; details=\"NXDOMAIN\"\r\nContent-Length: 0\r\n\r\n")
		}, tunnel.DNSFailed, false, 502},
		{"504 connection_timeout is the target's", func(t testing.TB) string {
			return answeringParent(t, "HTTP/1.1 504 Gateway Timeout\r\nProxy-Status: up; error=connection_timeout\r\nContent-Length: 0\r\n\r\n")
		}, tunnel.Timeout, false, 504},
		{"squid's 503 ERR_DNS_FAIL says dns_error, counted as a bare 503", func(t testing.TB) string {
			return answeringParent(t, "HTTP/1.1 503 Service Unavailable\r\nX-Squid-Error: ERR_DNS_FAIL 0\r\nContent-Length: 0\r\n\r\n")
		}, tunnel.DNSFailed, true, 503},
		{"squid's ERR_CONNECT_FAIL 111 says connection_refused", func(t testing.TB) string {
			return answeringParent(t, "HTTP/1.1 503 Service Unavailable\r\nX-Squid-Error: ERR_CONNECT_FAIL 111\r\nContent-Length: 0\r\n\r\n")
		}, tunnel.Refused, true, 503},
		{"squid's 504 ERR_READ_TIMEOUT says http_response_timeout", func(t testing.TB) string {
			return answeringParent(t, "HTTP/1.1 504 Gateway Timeout\r\nX-Squid-Error: ERR_READ_TIMEOUT 0\r\nContent-Length: 0\r\n\r\n")
		}, tunnel.ResponseTimeout, true, 504},
		{"squid's page not known", func(t testing.TB) string {
			return answeringParent(t, "HTTP/1.1 503 Service Unavailable\r\nX-Squid-Error: ERR_SHUTTING_DOWN 0\r\nContent-Length: 0\r\n\r\n")
		}, tunnel.UpstreamFailed, true, 503},
		{"Proxy-Status before X-Squid-Error", func(t testing.TB) string {
			return answeringParent(t, "HTTP/1.1 502 Bad Gateway\r\nProxy-Status: up; error=connection_refused\r\nX-Squid-Error: ERR_DNS_FAIL 0\r\nContent-Length: 0\r\n\r\n")
		}, tunnel.Refused, false, 502},
		{"403 is the upstream's policy", func(t testing.TB) string {
			return answeringParent(t, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
		}, tunnel.Denied, false, 403},
		{"not HTTP", func(t testing.TB) string {
			return answeringParent(t, "SSH-2.0-OpenSSH_9.2\r\n\r\n")
		}, tunnel.BadGateway, true, 0},
		{"closes without answering", func(t testing.TB) string {
			return serveLoopback(t, loopbackListener(t), func(c net.Conn) { http.ReadRequest(bufio.NewReader(c)) })
		}, tunnel.BadGateway, true, 0},
		{"head too big", func(t testing.TB) string { return answeringParent(t, big) }, tunnel.BadGateway, true, 0},
		{"refused", func(t testing.TB) string { return closedPort(t).String() }, tunnel.Refused, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, u := oneUpstream(t, "http://"+tt.parent(t))
			c, _, err := e.Open(context.Background(), targetOf(t, "origin.test:443"))
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if k := tunnel.KindOf(err); k != tt.want {
				t.Errorf("KindOf(%v) = %v, want %v", err, k, tt.want)
			}
			if hop, rs := tunnel.NextHopOf(err); hop != "corp" || rs != tt.received {
				t.Errorf("NextHopOf = %q, %d; want corp, %d", hop, rs, tt.received)
			}
			if down := !u.Available(); down != tt.down {
				t.Errorf("upstream down = %v, want %v", down, tt.down)
			}
		})
	}
}

// A parent that answers a failure of its own for one target (a 503 with
// no word about the target, as squid answers a name that does not
// resolve) after tunnels through it succeeded stays in: the failure is
// passed on, and the next tunnel goes through it. Without a success
// before, it is taken out (TestUpstreamHTTPAnswers).
func TestUpstreamOwnFailureAfterSuccessStaysIn(t *testing.T) {
	echo := echoServer(t)
	parent := serveLoopback(t, loopbackListener(t), func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if strings.HasPrefix(req.Host, "bad.") {
			io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
			return
		}
		if strings.HasPrefix(req.Host, "nxdomain.") {
			io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nX-Squid-Error: ERR_DNS_FAIL 0\r\nContent-Length: 0\r\n\r\n")
			return
		}
		o, err := net.Dial("tcp", echo)
		if err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
		go func() {
			io.Copy(o, br)
			o.Close()
		}()
		io.Copy(c, o)
	})
	e, u := oneUpstream(t, "http://"+parent)
	open := func(target string) error {
		c, _, err := e.Open(context.Background(), targetOf(t, target))
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := open("ok.test:443"); err != nil {
		t.Fatalf("first tunnel: %v", err)
	}
	err := open("bad.test:443")
	if k := tunnel.KindOf(err); k != tunnel.UpstreamFailed {
		t.Fatalf("KindOf(%v) = %v, want UpstreamFailed (the 503 passed on)", err, k)
	}
	if !u.Available() {
		t.Fatal("the parent was taken out for one target's 503 after it had worked")
	}
	err = open("nxdomain.test:443")
	if k := tunnel.KindOf(err); k != tunnel.DNSFailed || !strings.Contains(err.Error(), "X-Squid-Error: ERR_DNS_FAIL 0") {
		t.Fatalf("KindOf(%v) = %v, want DNSFailed (squid's cause passed on)", err, k)
	}
	if !u.Available() {
		t.Fatal("the parent was taken out for one target's ERR_DNS_FAIL after it had worked")
	}
	if err := open("ok.test:443"); err != nil {
		t.Fatalf("the tunnel after: %v", err)
	}
}

// A parent that never answers is cut off by the dial timeout.
func TestUpstreamHTTPSilentTimesOut(t *testing.T) {
	parent := silentParent(t)
	e, rt := engineWith(t, tunnel.Config{DialTimeout: 300 * time.Millisecond}, tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{{Name: "corp", URL: parseURL(t, "http://"+parent)}},
		Default:   "corp",
	})
	_, _, err := e.Open(context.Background(), targetOf(t, "origin.test:443"))
	if k := tunnel.KindOf(err); k != tunnel.Timeout {
		t.Fatalf("KindOf(%v) = %v, want Timeout", err, k)
	}
	if rt.Upstreams()["corp"].Available() {
		t.Error("a silent upstream is still available")
	}
}

func TestUpstreamHTTPBasicAuth(t *testing.T) {
	echo := echoServer(t)
	p := &httpParent{user: "ferry", pass: "s3cret:x", redirect: echo}
	addr := p.start(t)
	e, _ := oneUpstream(t, "http://ferry:s3cret%3Ax@"+addr)
	c, _, err := e.Open(context.Background(), targetOf(t, "origin.test:443"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echoes(t, c)
	if got := <-p.seen; got != "origin.test:443" {
		t.Errorf("parent was asked for %q, want the name origin.test:443", got)
	}
}

func TestUpstreamHTTPSMutualTLS(t *testing.T) {
	pk := newPKI(t)
	echo := echoServer(t)
	p := &httpParent{tls: pk.serverTLS(true), redirect: echo}
	addr := p.start(t)
	tests := []struct {
		name string
		tls  *tls.Config
		want tunnel.Kind // OK: the tunnel works
	}{
		{"client certificate", &tls.Config{RootCAs: pk.roots, Certificates: []tls.Certificate{pk.client}}, tunnel.OK},
		{"unknown CA", &tls.Config{Certificates: []tls.Certificate{pk.client}}, tunnel.TLSCertificate},
		{"wrong server name", &tls.Config{RootCAs: pk.roots, ServerName: "other.example", Certificates: []tls.Certificate{pk.client}}, tunnel.TLSCertificate},
		{"no client certificate", &tls.Config{RootCAs: pk.roots}, tunnel.BadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, rt := engineWith(t, tunnel.Config{DialTimeout: bound}, tunnel.RoutingSpec{
				Upstreams: []tunnel.UpstreamSpec{{Name: "tls", URL: parseURL(t, "https://"+addr), TLS: tt.tls}},
				Default:   "tls",
			})
			c, _, err := e.Open(context.Background(), targetOf(t, "origin.test:443"))
			if tt.want == tunnel.OK {
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				echoes(t, c)
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if k := tunnel.KindOf(err); k != tt.want && !(tt.want == tunnel.BadGateway && k == tunnel.TLSFailed) {
				t.Errorf("KindOf(%v) = %v, want %v", err, k, tt.want)
			}
			if rt.Upstreams()["tls"].Available() {
				t.Error("the upstream is still available after a TLS failure")
			}
		})
	}
}

func TestUpstreamSOCKS5(t *testing.T) {
	echo := echoServer(t)
	_, echoPort, _ := net.SplitHostPort(echo)
	tests := []struct {
		name   string
		parent *socksParent
		scheme string
		auth   string
		want   tunnel.Kind
		down   bool
		seen   string // the target the parent was given
	}{
		{"socks5h hands the name on", &socksParent{}, "socks5h", "", tunnel.OK, false, "localhost:" + echoPort},
		{"socks5 resolves here", &socksParent{}, "socks5", "", tunnel.OK, false, "127.0.0.1:" + echoPort},
		{"username and password", &socksParent{user: "u", pass: "p"}, "socks5h", "u:p@", tunnel.OK, false, "localhost:" + echoPort},
		{"wrong password", &socksParent{user: "u", pass: "p"}, "socks5h", "u:x@", tunnel.UpstreamAuth, true, ""},
		{"no credentials for a parent that wants them", &socksParent{user: "u", pass: "p"}, "socks5h", "", tunnel.UpstreamAuth, true, ""},
		{"refused is the target's", &socksParent{rep: 5}, "socks5h", "", tunnel.Refused, false, "localhost:" + echoPort},
		{"not allowed is the target's", &socksParent{rep: 2}, "socks5h", "", tunnel.Denied, false, "localhost:" + echoPort},
		{"general failure is the upstream's", &socksParent{rep: 1}, "socks5h", "", tunnel.UpstreamFailed, true, "localhost:" + echoPort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// localhost may resolve to ::1 first; the parent dials the echo
			// on 127.0.0.1 whatever it is given.
			tt.parent.redirect = echo
			addr := tt.parent.start(t)
			e, u := oneUpstream(t, tt.scheme+"://"+tt.auth+addr)
			req := targetOf(t, "localhost:"+echoPort)
			c, _, err := e.Open(context.Background(), req)
			if tt.want == tunnel.OK {
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, ok := tunnel.TCPOf(c); !ok {
					t.Errorf("Dial returned %T: the relay could not splice", c)
				}
				echoes(t, c)
			} else {
				if err == nil {
					c.Close()
					t.Fatal("Dial succeeded")
				}
				if k := tunnel.KindOf(err); k != tt.want {
					t.Errorf("KindOf(%v) = %v, want %v", err, k, tt.want)
				}
			}
			if down := !u.Available(); down != tt.down {
				t.Errorf("upstream down = %v, want %v", down, tt.down)
			}
			if tt.seen != "" {
				got := <-tt.parent.seen
				if tt.scheme == "socks5" {
					// ferry picks the first address localhost has.
					if h, _, _ := net.SplitHostPort(got); !net.ParseIP(h).IsLoopback() {
						t.Errorf("parent was given %q, want a loopback address", got)
					}
				} else if got != tt.seen {
					t.Errorf("parent was given %q, want %q", got, tt.seen)
				}
			}
		})
	}
}

// A → B → target: ferry reaches A through B (via), each hop a CONNECT or
// a SOCKS5 request inside the previous one, and the conn is still raw.
func TestUpstreamChain(t *testing.T) {
	echo := echoServer(t)
	a := &httpParent{redirect: echo}
	aAddr := a.start(t)
	b := &socksParent{}
	bAddr := b.start(t)
	c := &httpParent{}
	cAddr := c.start(t)
	e, _ := engineWith(t, tunnel.Config{DialTimeout: bound}, tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{
			{Name: "a", URL: parseURL(t, "http://"+aAddr), Via: "b"},
			{Name: "b", URL: parseURL(t, "socks5h://"+bAddr), Via: "c"},
			{Name: "c", URL: parseURL(t, "http://"+cAddr)},
		},
		Default: "a",
	})
	conn, _, err := e.Open(context.Background(), targetOf(t, "origin.test:443"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, ok := tunnel.TCPOf(conn); !ok {
		t.Errorf("Dial returned %T through plain hops: the relay could not splice", conn)
	}
	echoes(t, conn)
	for _, hop := range []struct {
		name string
		seen chan string
		want string
	}{{"c", c.seen, bAddr}, {"b", b.seen, aAddr}, {"a", a.seen, "origin.test:443"}} {
		if got := <-hop.seen; got != hop.want {
			t.Errorf("%s was asked for %q, want %q", hop.name, got, hop.want)
		}
	}
}

func TestNewRoutesRefuses(t *testing.T) {
	u := func(name, via string) tunnel.UpstreamSpec {
		return tunnel.UpstreamSpec{Name: name, URL: parseURL(t, "http://127.0.0.1:1"), Via: via}
	}
	tests := []struct {
		name string
		spec tunnel.RoutingSpec
		want string
	}{
		{"cycle", tunnel.RoutingSpec{Upstreams: []tunnel.UpstreamSpec{u("a", "b"), u("b", "a")}}, "loops"},
		{"self via", tunnel.RoutingSpec{Upstreams: []tunnel.UpstreamSpec{u("a", "a")}}, "loops"},
		{"unknown via", tunnel.RoutingSpec{Upstreams: []tunnel.UpstreamSpec{u("a", "zz")}}, "no such upstream"},
		{"unknown route target", tunnel.RoutingSpec{Default: "nope"}, "not direct, env"},
		{"unknown member", tunnel.RoutingSpec{Groups: []tunnel.GroupSpec{{Name: "g", Members: []string{"x"}}}}, "no such upstream"},
		{"bad policy", tunnel.RoutingSpec{Upstreams: []tunnel.UpstreamSpec{u("a", "")},
			Groups: []tunnel.GroupSpec{{Name: "g", Members: []string{"a"}, Policy: "random"}}}, "policy"},
		{"bad scheme", tunnel.RoutingSpec{Upstreams: []tunnel.UpstreamSpec{{Name: "a", URL: parseURL(t, "ftp://h:1")}}}, "scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tunnel.NewRoutes(tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewRoutes = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// A second tunnel through an https upstream resumes the TLS session: no
// certificates are exchanged again.
func TestUpstreamHTTPSResumes(t *testing.T) {
	pk := newPKI(t)
	echo := echoServer(t)
	resumed := make(chan bool, 4)
	p := &httpParent{redirect: echo}
	ln := tls.NewListener(loopbackListener(t), pk.serverTLS(true))
	addr := serveLoopback(t, ln, func(c net.Conn) {
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			return
		}
		resumed <- tc.ConnectionState().DidResume
		p.serve(c)
	})
	e, _ := engineWith(t, tunnel.Config{DialTimeout: bound}, tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{{Name: "tls", URL: parseURL(t, "https://"+addr),
			TLS: &tls.Config{RootCAs: pk.roots, Certificates: []tls.Certificate{pk.client}}}},
		Default: "tls",
	})
	for i, want := range []bool{false, true} {
		c, _, err := e.Open(context.Background(), targetOf(t, "origin.test:443"))
		if err != nil {
			t.Fatal(err)
		}
		echoes(t, c)
		c.Close()
		if got := <-resumed; got != want {
			t.Errorf("tunnel %d: resumed %v, want %v", i, got, want)
		}
	}
}

// A parent that hangs after it worked is taken out by the active check:
// the probe's target is known to answer, so the probe's timeout is the
// parent's failure even within the grace that spares it for a client's
// silent target (a success noted for it would keep the parent in for
// good).
func TestProbeTakesOutHungParentAfterSuccess(t *testing.T) {
	var hang atomic.Bool
	parent := serveLoopback(t, loopbackListener(t), func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		if hang.Load() {
			io.Copy(io.Discard, br) // never answers
			return
		}
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	})
	rt, err := tunnel.NewRoutes(tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{{Name: "corp", URL: parseURL(t, "http://"+parent),
			Health: tunnel.HealthSpec{Probe: "probe.test:443", Interval: 10 * time.Second}}},
		Default: "corp",
	})
	if err != nil {
		t.Fatal(err)
	}
	e := tunnel.New(tunnel.Config{DialTimeout: 100 * time.Millisecond}, nil)
	t.Cleanup(e.Close)
	ticks := make(chan time.Time)
	tunnel.SetTicker(e, func(time.Duration) (<-chan time.Time, func()) { return ticks, func() {} })
	e.SetPolicy(&tunnel.Policy{Routes: rt})
	u := rt.Upstreams()["corp"]
	c, _, err := e.Open(context.Background(), targetOf(t, "ok.test:443"))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	hang.Store(true)
	ticks <- time.Now() // a probe, within the grace of the success just now
	ticks <- time.Now() // taken once the one before has ended
	if u.Available() {
		t.Error("a hung parent's probe timed out and the parent is still in service")
	}
}
