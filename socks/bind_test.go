package socks

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/front"
	"github.com/ferry-proxy/ferry/tunnel"
)

func bindWorld(t testing.TB, timeout time.Duration, pol *tunnel.Policy) *world {
	return newWorldWith(t, front.Auto, tunnel.Config{DialTimeout: 5 * time.Second, BindTimeout: timeout}, pol)
}

// dialFrom connects to addr from the loopback address src.
func dialFrom(t testing.TB, src string, addr netip.AddrPort) (*net.TCPConn, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: bound}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn), nil
}

// An FTP-style exchange: the client asks ferry to listen for its peer
// (127.0.0.2, the server of an FTP session), tells the peer where (PORT),
// the peer connects and the data flows both ways; data the client sent
// before the peer came is passed on first. A connection from anyone else
// is refused and counted.
func TestSOCKS5Bind(t *testing.T) {
	w := bindWorld(t, bound, nil)
	c := w.dial(t)
	rep, bnd := connect5(t, c, cmdBind, atypIPv4, ip4("127.0.0.2"), 21)
	if rep != repSucceeded || !bnd.Addr().IsLoopback() || bnd.Port() == 0 {
		t.Fatalf("first reply %#x %v; want success with the address listened on", rep, bnd)
	}
	c.Write([]byte("early "))
	// A stranger (127.0.0.1, not the expected 127.0.0.2) is refused.
	// ferry accepts it and resets it: the reset may come before the
	// dialer has seen its connect complete (a non-blocking connect's
	// result is read after the fact), or on its first read.
	if s, err := dialFrom(t, "127.0.0.1", bnd); err == nil {
		s.SetReadDeadline(time.Now().Add(bound))
		if n, err := s.Read(make([]byte, 1)); n != 0 || !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
			t.Errorf("stranger read %d, %v; want its connection closed", n, err)
		}
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatal(err)
	}
	peer, err := dialFrom(t, "127.0.0.2", bnd)
	if err != nil {
		t.Fatal(err)
	}
	rep, from := readReply5(t, c)
	if rep != repSucceeded || from.String() != peer.LocalAddr().String() {
		t.Fatalf("second reply %#x %v; want success with the peer's address %v", rep, from, peer.LocalAddr())
	}
	peer.SetDeadline(time.Now().Add(bound))
	peer.Write([]byte("220 data\n"))
	got := make([]byte, 9)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "220 data\n" {
		t.Fatalf("client read %q, %v", got, err)
	}
	c.Write([]byte("upload"))
	c.CloseWrite()
	if b, err := io.ReadAll(peer); err != nil || string(b) != "early upload" {
		t.Fatalf("peer read %q, %v; want the early bytes, then the rest", b, err)
	}
	peer.Close()
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("client after the peer closed: %q, %v", b, err)
	}
	r := w.log.next(t)
	if r.Method != "BIND" || r.Target != "127.0.0.2:21" || r.Dialed != peer.LocalAddr().String() ||
		r.Refused != 1 || r.BytesUp != 12 || r.BytesDown != 9 || r.Err != nil || r.Status != 0 {
		t.Errorf("record %+v", r)
	}
}

func TestSOCKS5BindRefusals(t *testing.T) {
	t.Run("no peer within bind_timeout", func(t *testing.T) {
		w := bindWorld(t, 100*time.Millisecond, nil)
		c := w.dial(t)
		rep, bnd := connect5(t, c, cmdBind, atypIPv4, ip4("127.0.0.2"), 21)
		if rep != repSucceeded {
			t.Fatalf("first reply %#x", rep)
		}
		if rep, _ := readReply5(t, c); rep != tunnel.Timeout.SOCKS5Reply() {
			t.Errorf("second reply %#x, want %#x", rep, tunnel.Timeout.SOCKS5Reply())
		}
		if r := w.log.next(t); r.ProxyStatus != "connection_timeout" || r.Method != "BIND" {
			t.Errorf("record %+v", r)
		}
		if _, err := dialFrom(t, "127.0.0.2", bnd); err == nil {
			t.Errorf("the listening socket is still open after the timeout")
		}
	})
	t.Run("client leaves while waiting", func(t *testing.T) {
		w := bindWorld(t, bound, nil)
		c := w.dial(t)
		rep, bnd := connect5(t, c, cmdBind, atypIPv4, ip4("127.0.0.2"), 21)
		if rep != repSucceeded {
			t.Fatalf("first reply %#x", rep)
		}
		c.Close()
		if r := w.log.next(t); !errors.Is(r.Err, errClientLeft) {
			t.Errorf("record err %v, want %v", r.Err, errClientLeft)
		}
		if _, err := dialFrom(t, "127.0.0.2", bnd); err == nil {
			t.Errorf("the listening socket is still open after the client left")
		}
	})
	t.Run("expected peer denied", func(t *testing.T) {
		pol := &tunnel.Policy{ACL: decideFunc(func(q *acl.Query) acl.Verdict {
			if q.Method == "BIND" && q.IP == netip.MustParseAddr("127.0.0.2") {
				return acl.Verdict{Rule: "no-bind"}
			}
			return acl.Verdict{Allow: true, Rule: "ok"}
		})}
		w := bindWorld(t, bound, pol)
		c := w.dial(t)
		if rep, _ := connect5(t, c, cmdBind, atypIPv4, ip4("127.0.0.2"), 21); rep != 0x02 {
			t.Errorf("reply %#x, want 0x02", rep)
		}
		if r := w.log.next(t); r.Decision != "deny" || r.Rule != "no-bind" {
			t.Errorf("record %+v", r)
		}
	})
	t.Run("routed to an upstream", func(t *testing.T) {
		rt, err := tunnel.NewRoutes(tunnel.RoutingSpec{
			Upstreams: []tunnel.UpstreamSpec{{Name: "up", URL: &url.URL{Scheme: "socks5", Host: "127.0.0.1:9"}}},
			Default:   "up",
		})
		if err != nil {
			t.Fatal(err)
		}
		w := bindWorld(t, bound, &tunnel.Policy{Routes: rt})
		c := w.dial(t)
		if rep, _ := connect5(t, c, cmdBind, atypIPv4, ip4("127.0.0.2"), 21); rep != repCmdNotSupported {
			t.Errorf("reply %#x, want 0x07", rep)
		}
		if r := w.log.next(t); !errors.Is(r.Err, tunnel.ErrBindUpstream) || r.Upstream != "up" {
			t.Errorf("record %+v", r)
		}
	})
}
