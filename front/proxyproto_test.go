package front

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/ferry-proxy/ferry/internal/proxyhdr"
	"github.com/pires/go-proxyproto"
)

func v2Header(t *testing.T, cmd proxyproto.ProtocolVersionAndCommand, src, dst string) string {
	t.Helper()
	h := &proxyproto.Header{Version: 2, Command: cmd, TransportProtocol: proxyproto.UNSPEC}
	if cmd == proxyproto.PROXY {
		h.TransportProtocol = proxyproto.TCPv4
		h.SourceAddr = net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src))
		h.DestinationAddr = net.TCPAddrFromAddrPort(netip.MustParseAddrPort(dst))
	}
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A PROXY header from a configured balancer names the client the front
// ends see (issue 18 item 1); the bytes behind it reach the handler as
// sent, and on Linux the conn is still the *net.TCPConn the relay
// splices. From any other peer the header is not believed.
func TestMuxProxyProtocol(t *testing.T) {
	const req = "GET http://a/ HTTP/1.1\r\n\r\n"
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	elsewhere := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name       string
		from       []netip.Prefix
		in         string
		wantClient string // "" : the peer's own address
		wantData   string
	}{
		{"v1 from a balancer", loopback, "PROXY TCP4 203.0.113.7 192.0.2.1 40000 8080\r\n" + req, "203.0.113.7:40000", req},
		{"v2 from a balancer", loopback, v2Header(t, proxyproto.PROXY, "198.51.100.9:5555", "192.0.2.1:8080") + req, "198.51.100.9:5555", req},
		{"v2 LOCAL: the balancer's own check", loopback, v2Header(t, proxyproto.LOCAL, "", "") + req, "", req},
		{"v1 from a peer not trusted", elsewhere, "PROXY TCP4 203.0.113.7 192.0.2.1 40000 8080\r\n" + req, "", "PROXY TCP4 203.0.113.7 192.0.2.1 40000 8080\r\n" + req},
		{"no list: nothing read", nil, req, "", req},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, Auto, &Mux{ProxyFrom: func(net.Listener) []netip.Prefix { return tt.from }}, len(tt.wantData))
			c := w.dial(t)
			if _, err := c.Write([]byte(tt.in)); err != nil {
				t.Fatal(err)
			}
			s := next(t, w.http.ch)
			if string(s.data) != tt.wantData || s.readErr != nil {
				t.Errorf("handler read %q (%v), want %q", s.data, s.readErr, tt.wantData)
			}
			// Asked with a conn whose own peer is neither the test's
			// client nor the header's, ClientOf tells which it took.
			got := proxyhdr.ClientOf(s.ctx, otherPeer{}).String()
			want := tt.wantClient
			if want == "" {
				want = otherPeer{}.RemoteAddr().String() // the peer's own address stands
			}
			if got != want {
				t.Errorf("client %s, want %s", got, want)
			}
			if s.connT != "*net.TCPConn" && onLinux {
				t.Errorf("handler got %s, want *net.TCPConn (splice)", s.connT)
			}
		})
	}
}

// A balancer that must send a header and sends something else is closed
// unanswered; no handler sees the conn.
func TestMuxProxyProtocolMissing(t *testing.T) {
	for _, in := range []string{"GET / HTTP/1.1\r\n\r\n", "PROXY TCP4 nonsense\r\n", "PROXY " + string(make([]byte, 200))} {
		w := newWorld(t, Auto, &Mux{ProxyFrom: func(net.Listener) []netip.Prefix {
			return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		}}, 1)
		c := w.dial(t)
		c.Write([]byte(in))
		if b, err := io.ReadAll(c); err != nil || len(b) > 0 {
			t.Errorf("%q: read %q, %v; want a close without an answer", in, b, err)
		}
		select {
		case s := <-w.http.ch:
			t.Errorf("%q: a handler was called with %q", in, s.data)
		default:
		}
	}
}

// otherPeer is a conn whose peer address is neither the test's client nor
// a header's.
type otherPeer struct{ net.Conn }

func (otherPeer) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 99), Port: 1} }

// clientRefuser answers a refused conn with the client it was given.
type clientRefuser struct{ *recorder }

func (r clientRefuser) Refuse(ctx context.Context, c net.Conn) {
	io.WriteString(c, proxyhdr.ClientOf(ctx, c).String()+"\n")
}

// A conn over max_conns from a balancer is refused in the name of the
// client its PROXY header names, not the balancer's (issue 18 review,
// Low 6): the access line is the client's.
func TestMuxOverLimitNamesProxyClient(t *testing.T) {
	release := make(chan struct{})
	holding := &recorder{proto: HTTP, ch: make(chan served, 4), then: func(ctx context.Context, c net.Conn) {
		select {
		case <-release:
		case <-ctx.Done():
		}
	}}
	w := newWorld(t, Auto, &Mux{MaxConns: 1, HTTP: clientRefuser{holding},
		ProxyFrom: func(net.Listener) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }}, 0)
	t.Cleanup(func() { close(release) })
	first := w.dial(t)
	first.Write([]byte("PROXY TCP4 203.0.113.1 192.0.2.1 40000 8080\r\nG"))
	next(t, holding.ch)

	second := w.dial(t)
	second.Write([]byte("PROXY TCP4 203.0.113.7 192.0.2.1 40001 8080\r\nGET / HTTP/1.1\r\n\r\n"))
	got, err := io.ReadAll(second)
	if err != nil || string(got) != "203.0.113.7:40001\n" {
		t.Errorf("refused over the limit as %q (%v), want the PROXY header's client 203.0.113.7:40001", got, err)
	}
}
