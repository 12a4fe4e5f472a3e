package tunnel_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/udpframe"
	"github.com/ferry-proxy/ferry/tunnel"

	"github.com/ferry-proxy/ferry/internal/testnet"
)

// fakeSOCKS is a SOCKS5 server that serves UDP ASSOCIATE (RFC 1928 §7)
// with one exchange per datagram: it sends the payload on to the
// destination the header names (a name must be "localhost"), waits for
// the answer and relays it back under a header naming its source. It
// answers rep to every request when rep is not 0.
type fakeSOCKS struct {
	addr  string
	rep   byte
	cmds  chan byte   // the command of each request
	dests chan string // the destination named by each datagram, as named
}

func startFakeSOCKS(t *testing.T, rep byte) *fakeSOCKS {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &fakeSOCKS{addr: ln.Addr().String(), rep: rep, cmds: make(chan byte, 8), dests: make(chan string, 64)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(t, c)
		}
	}()
	return s
}

func (s *fakeSOCKS) serve(t *testing.T, c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(bound))
	var greet [2]byte
	if _, err := io.ReadFull(c, greet[:]); err != nil {
		return
	}
	io.CopyN(io.Discard, c, int64(greet[1]))
	c.Write([]byte{5, 0})
	var req [10]byte // an IPv4 request: all ferry sends
	if _, err := io.ReadFull(c, req[:]); err != nil {
		return
	}
	s.cmds <- req[1]
	if s.rep != 0 || req[1] != 3 {
		c.Write([]byte{5, max(s.rep, 7), 0, 1, 0, 0, 0, 0, 0, 0})
		return
	}
	relay, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return
	}
	defer relay.Close()
	out, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return
	}
	defer out.Close()
	// BND.ADDR 0.0.0.0, as many servers answer: the client uses the
	// server's own address.
	c.Write(binary.BigEndian.AppendUint16([]byte{5, 0, 0, 1, 0, 0, 0, 0}, netip.MustParseAddrPort(relay.LocalAddr().String()).Port()))
	go func() {
		buf := make([]byte, 70000)
		for {
			n, from, err := relay.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			h, err := udpframe.ParseSOCKS(buf[:n])
			if err != nil {
				continue
			}
			dst := h.Addr
			if h.Name != nil {
				s.dests <- string(h.Name) + ":" + itoa(h.Addr.Port())
				dst = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), h.Addr.Port())
			} else {
				s.dests <- h.Addr.String()
			}
			out.WriteToUDPAddrPort(buf[h.Len:n], dst)
			out.SetReadDeadline(time.Now().Add(bound))
			m, src, err := out.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			relay.WriteToUDPAddrPort(append(udpframe.AppendSOCKS(nil, src, ""), buf[:m]...), from)
		}
	}()
	io.Copy(io.Discard, c) // the association lasts as long as the control connection
}

func socksEngine(t *testing.T, scheme, addr string) (*tunnel.Engine, *tunnel.Routes) {
	t.Helper()
	rt, err := tunnel.NewRoutes(tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{{Name: "parent", URL: &url.URL{Scheme: scheme, Host: addr}}},
		Default:   "parent",
	})
	if err != nil {
		t.Fatal(err)
	}
	e := tunnel.New(tunnel.Config{DialTimeout: bound}, &tunnel.Policy{Routes: rt})
	t.Cleanup(e.Close)
	return e, rt
}

// Datagrams routed to a SOCKS5 upstream go through its own UDP
// association, one for all the destinations routed there: socks5://
// is given the address ferry resolved, socks5h:// the name.
func TestAssociationSOCKSUpstream(t *testing.T) {
	echo := testnet.UDPEcho(t)
	for _, tt := range []struct{ scheme, named string }{
		{"socks5", echo.String()},
		{"socks5h", "localhost:" + itoa(echo.Port())},
	} {
		t.Run(tt.scheme, func(t *testing.T) {
			up := startFakeSOCKS(t, 0)
			e, _ := socksEngine(t, tt.scheme, up.addr)
			f := newFakeClient()
			r := runAssoc(t, e, f)
			for _, dst := range []tunnel.PacketAddr{tunnel.NameOf("localhost", echo.Port()), tunnel.AddrOf(echo)} {
				f.in <- packet{dst, "through the parent"}
				if got := f.next(t); got.payload != "through the parent" || got.src != tunnel.AddrOf(echo) {
					t.Fatalf("reply %+v", got)
				}
			}
			if cmd := <-up.cmds; cmd != 3 {
				t.Errorf("the upstream got command %d, want UDP ASSOCIATE (3)", cmd)
			}
			if got := <-up.dests; got != tt.named {
				t.Errorf("the upstream was given %q, want %q", got, tt.named)
			}
			f.Close()
			r.wait(t)
			select {
			case cmd := <-up.cmds:
				t.Errorf("a second request (%d): want one upstream association for both destinations", cmd)
			default:
			}
			if r.st.Outcome.Upstream != "parent" || r.st.DgramsDown != 2 {
				t.Errorf("stats %+v", r.st)
			}
		})
	}
}

// An upstream that does not serve UDP (reply 0x07) fails the
// destination, not itself: it stays in for TCP.
func TestAssociationSOCKSUpstreamWithoutUDP(t *testing.T) {
	up := startFakeSOCKS(t, 7)
	e, rt := socksEngine(t, "socks5", up.addr)
	a, err := e.Associate(context.Background(), udpRequest(), newFakeClient())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, err = a.Prepare(tunnel.AddrOf(netip.MustParseAddrPort("127.0.0.1:53")))
	if err == nil || !strings.Contains(err.Error(), "does not serve UDP ASSOCIATE") {
		t.Fatalf("Prepare: %v", err)
	}
	for name, u := range rt.Upstreams() {
		if !u.Available() {
			t.Errorf("upstream %s taken out for not serving UDP", name)
		}
	}
}

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

// An HTTP upstream that does not serve CONNECT-UDP (a 404 from any HTTP
// server) fails the destination, not itself.
func TestAssociationHTTPUpstreamWithoutUDP(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	e, rt := socksEngine(t, "http", srv.Listener.Addr().String())
	a, err := e.Associate(context.Background(), udpRequest(), newFakeClient())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, err = a.Prepare(tunnel.NameOf("example.com", 443))
	if err == nil || !strings.Contains(err.Error(), "does not serve CONNECT-UDP") || tunnel.KindOf(err) != tunnel.BadGateway {
		t.Fatalf("Prepare: %v", err)
	}
	for name, u := range rt.Upstreams() {
		if !u.Available() {
			t.Errorf("upstream %s taken out for not serving CONNECT-UDP", name)
		}
	}
}
