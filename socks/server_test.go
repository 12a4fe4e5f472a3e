package socks

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/front"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
)

const bound = 10 * time.Second

// sink hands finished access records to the test.
type sink chan *accesslog.Record

func (s sink) Write(r *accesslog.Record) {
	select {
	case s <- r:
	default: // a test or benchmark that does not read the log must not block the server
	}
}

func (s sink) next(t *testing.T) *accesslog.Record {
	t.Helper()
	select {
	case r := <-s:
		return r
	case <-time.After(bound):
		t.Fatal("no access record written")
		return nil
	}
}

// echo is a target that echoes and reports each peer address it accepted.
type echo struct {
	addr  netip.AddrPort
	peers chan netip.AddrPort
}

func startEcho(t testing.TB, network, addr string) (*echo, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { ln.Close() })
	e := &echo{addr: netip.MustParseAddrPort(ln.Addr().String()), peers: make(chan netip.AddrPort, 1024)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case e.peers <- netip.MustParseAddrPort(c.RemoteAddr().String()):
			default:
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(bound))
				io.Copy(c, c)
			}()
		}
	}()
	return e, nil
}

// world is a SOCKS server behind a real front.Mux on loopback.
type world struct {
	addr string
	log  sink
}

func newWorld(t testing.TB) *world { return newWorldOn(t, front.Auto) }

// newWorldOn is newWorld with the listener's protocol setting.
func newWorldOn(t testing.TB, proto front.Protocol) *world {
	return newWorldWith(t, proto, tunnel.Config{DialTimeout: 5 * time.Second}, nil)
}

// newWorldWith is newWorld with an engine of its own.
func newWorldWith(t testing.TB, proto front.Protocol, cfg tunnel.Config, pol *tunnel.Policy) *world {
	t.Helper()
	w := &world{log: make(sink, 64)}
	engine := tunnel.New(cfg, pol)
	m := &front.Mux{SOCKS: New(engine, w.log, zerolog.Nop()), HandshakeTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.addr = ln.Addr().String()
	go m.Serve(ln, proto)
	t.Cleanup(func() {
		m.Close()
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		defer cancel()
		if !m.Drain(ctx) {
			t.Error("connections still open at the end of the test")
		}
	})
	return w
}

func (w *world) dial(t testing.TB) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", w.addr, bound)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(bound))
	return c.(*net.TCPConn)
}

// connect5 greets with no-auth and sends CONNECT with the given address
// type and address bytes; it returns the reply code and BND.
func connect5(t testing.TB, c net.Conn, cmd, atyp byte, addr []byte, port uint16) (byte, netip.AddrPort) {
	t.Helper()
	if _, err := c.Write([]byte{0x05, 0x01, 0x00}); err != nil {
		t.Fatal(err)
	}
	sel := make([]byte, 2)
	if _, err := io.ReadFull(c, sel); err != nil || sel[0] != 0x05 || sel[1] != 0x00 {
		t.Fatalf("method selection = %x, %v; want 05 00", sel, err)
	}
	req := append([]byte{0x05, cmd, 0x00, atyp}, addr...)
	req = binary.BigEndian.AppendUint16(req, port)
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	return readReply5(t, c)
}

func readReply5(t testing.TB, c net.Conn) (byte, netip.AddrPort) {
	t.Helper()
	h := make([]byte, 4)
	if _, err := io.ReadFull(c, h); err != nil {
		t.Fatalf("reading reply: %v", err)
	}
	if h[0] != 0x05 || h[2] != 0x00 {
		t.Fatalf("reply head %x, want 05 xx 00", h)
	}
	var ip netip.Addr
	switch h[3] {
	case atypIPv4:
		var a [4]byte
		io.ReadFull(c, a[:])
		ip = netip.AddrFrom4(a)
	case atypIPv6:
		var a [16]byte
		io.ReadFull(c, a[:])
		ip = netip.AddrFrom16(a)
	default:
		t.Fatalf("reply ATYP %d", h[3])
	}
	var p [2]byte
	if _, err := io.ReadFull(c, p[:]); err != nil {
		t.Fatalf("reading reply port: %v", err)
	}
	return h[1], netip.AddrPortFrom(ip, binary.BigEndian.Uint16(p[:]))
}

// roundTrip sends msg through the tunnel to the echo target and reads it
// back, then half-closes and expects EOF: the tunnel is byte-exact and
// ends cleanly.
func roundTrip(t testing.TB, c *net.TCPConn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo = %q, %v; want %q", got, err, msg)
	}
	c.CloseWrite()
	if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
		t.Fatalf("after half-close read %q, %v; want EOF", rest, err)
	}
}

func ip4(s string) []byte { a := netip.MustParseAddr(s).As4(); return a[:] }
func ip16(s string) []byte {
	a := netip.MustParseAddr(s).As16()
	return a[:]
}
func domain(s string) []byte { return append([]byte{byte(len(s))}, s...) }

func TestSOCKS5Connect(t *testing.T) {
	e4, err := startEcho(t, "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e6, err6 := startEcho(t, "tcp6", "[::1]:0")
	tests := []struct {
		name   string
		target *echo
		atyp   byte
		addr   []byte
		skip   error
	}{
		{"ipv4", e4, atypIPv4, ip4("127.0.0.1"), nil},
		{"ipv6", e6, atypIPv6, ip16("::1"), err6},
		{"domain", e4, atypDomain, domain("localhost"), nil},
		{"domain upper case, trailing dot", e4, atypDomain, domain("LocalHost."), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip != nil {
				t.Skipf("no IPv6 loopback here: %v", tt.skip)
			}
			w := newWorld(t)
			c := w.dial(t)
			rep, bnd := connect5(t, c, cmdConnect, tt.atyp, tt.addr, tt.target.addr.Port())
			if rep != repSucceeded {
				t.Fatalf("reply %#x, want success", rep)
			}
			// BND is the proxy's end of the outbound conn: the address
			// the target saw the connection come from.
			seen := <-tt.target.peers
			if bnd != seen {
				t.Errorf("BND = %v, target saw the conn from %v", bnd, seen)
			}
			roundTrip(t, c, "hello through socks5")
			r := w.log.next(t)
			wantTarget := net.JoinHostPort(tt.target.addr.Addr().String(), fmt.Sprint(tt.target.addr.Port()))
			if tt.atyp == atypDomain {
				// The one form of the name, as the ACL and the dial saw it.
				name := strings.ToLower(strings.TrimSuffix(string(tt.addr[1:]), "."))
				wantTarget = net.JoinHostPort(name, fmt.Sprint(tt.target.addr.Port()))
			}
			if r.Proto != "socks5" || r.Method != "CONNECT" || r.Target != wantTarget || r.Status != 0 ||
				r.Dialed != tt.target.addr.String() || r.BytesUp != 20 || r.BytesDown != 20 || r.Err != nil {
				t.Errorf("access record = %+v", r)
			}
		})
	}
}

func TestSOCKS5Refusals(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedPort := uint16(closed.Addr().(*net.TCPAddr).Port)
	closed.Close()
	tests := []struct {
		name       string
		cmd, atyp  byte
		addr       []byte
		port       uint16
		rep        byte
		proxyStat  string
		logMethod  string
		logTarget  string
		logStatus  int
		wantLogged bool
	}{
		{"refused", cmdConnect, atypIPv4, ip4("127.0.0.1"), refusedPort, 0x05, "connection_refused", "CONNECT", fmt.Sprintf("127.0.0.1:%d", refusedPort), 5, true},
		{"dns failure", cmdConnect, atypDomain, domain("ferry-test.invalid"), 80, 0x04, "dns_error", "CONNECT", "ferry-test.invalid:80", 4, true},
		{"bind to a bad name", cmdBind, atypDomain, domain("a b"), 80, 0x01, "http_request_error", "BIND", "a b:80", 1, true},
		{"unknown command", 0x09, atypIPv4, ip4("127.0.0.1"), 80, 0x07, "http_request_error", "", "127.0.0.1:80", 7, true},
		{"unknown atyp", cmdConnect, 0x02, ip4("127.0.0.1"), 80, 0x08, "http_request_error", "", "", 8, true},
		{"port 0", cmdConnect, atypIPv4, ip4("127.0.0.1"), 0, 0x01, "http_request_error", "CONNECT", "127.0.0.1:0", 1, true},
		{"bad domain", cmdConnect, atypDomain, domain("a b"), 80, 0x01, "http_request_error", "CONNECT", "a b:80", 1, true},
		{"empty domain", cmdConnect, atypDomain, domain(""), 80, 0x01, "http_request_error", "CONNECT", ":80", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			c := w.dial(t)
			rep, bnd := connect5(t, c, tt.cmd, tt.atyp, tt.addr, tt.port)
			if rep != tt.rep {
				t.Errorf("reply %#x, want %#x", rep, tt.rep)
			}
			if bnd != netip.AddrPortFrom(netip.IPv4Unspecified(), 0) {
				t.Errorf("BND = %v on a failure, want 0.0.0.0:0", bnd)
			}
			if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
				t.Errorf("after the failure reply: %q, %v; want EOF", rest, err)
			}
			r := w.log.next(t)
			if r.Status != tt.logStatus || r.ProxyStatus != tt.proxyStat || r.Err == nil ||
				r.Method != tt.logMethod || r.Target != tt.logTarget {
				t.Errorf("access record = status %d %q method %q target %q err %v; want %d %q %q %q and an error",
					r.Status, r.ProxyStatus, r.Method, r.Target, r.Err, tt.logStatus, tt.proxyStat, tt.logMethod, tt.logTarget)
			}
		})
	}
}

// Only no-auth is implemented: a client offering only username/password
// (RFC 1929) gets "no acceptable methods" and the conn is closed.
func TestSOCKS5NoAcceptableMethod(t *testing.T) {
	w := newWorld(t)
	c := w.dial(t)
	c.Write([]byte{0x05, 0x01, methodUserPass})
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, []byte{0x05, 0xFF}) {
		t.Fatalf("got %x, %v; want 05 ff then EOF", got, err)
	}
}

// Hostile or broken handshakes: a malformed message gets the protocol's
// refusal and an access event (never a silent close); a client that stops
// mid-message is closed without either (it is gone); nothing panics (a
// panic would end the test binary).
func TestSOCKSBrokenHandshakes(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		want      string // everything the server sends before closing
		logStatus int    // the access event's status
	}{
		{"zero methods", "\x05\x00", "\x05\xff", 0xff},
		// Cut short: logged as the HTTP front end logs a head cut short,
		// with the reply of the kind (SOCKS5 0x01, SOCKS4 91), none sent.
		{"truncated greeting", "\x05\x02\x00", "", 1},
		{"version only", "\x05", "", 1},
		{"request with wrong version", "\x05\x01\x00\x04\x01\x00\x01\x7f\x00\x00\x01\x00\x50",
			"\x05\x00" + "\x05\x01\x00\x01\x00\x00\x00\x00\x00\x00", 1},
		{"greeting and no request", "\x05\x01\x00", "\x05\x00", 1},
		{"truncated request", "\x05\x01\x00\x05\x01\x00\x03\x0alocal", "\x05\x00", 1},
		{"truncated socks4", "\x04\x01\x00\x50", "", 91},
		{"socks4 userid not ended", "\x04\x01\x00\x50\x7f\x00\x00\x01alice", "", 91},
		{"socks4 userid too long", "\x04\x01\x00\x50\x7f\x00\x00\x01" + strings.Repeat("u", 300), "\x00\x5b\x00\x00\x00\x00\x00\x00", 91},
		{"socks4a empty host", "\x04\x01\x00\x50\x00\x00\x00\x01\x00\x00", "\x00\x5b\x00\x00\x00\x00\x00\x00", 91},
		// On a SOCKS-only listener (protocol = "socks"), which does not sniff:
		{"not socks at all", "\x01\x02", "", 1},
		{"an HTTP request", "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			if tt.in[0] != 4 && tt.in[0] != 5 {
				w = newWorldOn(t, front.SOCKS)
			}
			c := w.dial(t)
			c.Write([]byte(tt.in))
			c.CloseWrite()
			got, err := io.ReadAll(c)
			if strings.HasPrefix(tt.want, "HTTP/") {
				got = got[:min(len(got), len(tt.want))] // the head's first line
			}
			if string(got) != tt.want {
				t.Errorf("server sent %q, want %q", got, tt.want)
			}
			if err != nil && !isReset(err) {
				t.Errorf("read: %v, want EOF or reset", err)
			}
			r := w.log.next(t)
			if r.Status != tt.logStatus || r.ProxyStatus != "http_request_error" || r.Err == nil {
				t.Errorf("access record: status %d %q, err %v; want %d http_request_error and the reason", r.Status, r.ProxyStatus, r.Err, tt.logStatus)
			}
			if want := map[byte]string{4: "socks4"}[tt.in[0]]; want != "" && r.Proto != want {
				t.Errorf("access record proto %q, want %q", r.Proto, want)
			}
		})
	}
}

// As on HTTP, a client gone without a word is no request: one that
// connects and closes, or resets the connection mid-greeting, writes no
// access event; one that falls silent mid-handshake is cut off at the
// deadline and logged.
func TestSOCKSGoneOrSilent(t *testing.T) {
	for _, tt := range []struct {
		name  string
		in    []byte
		reset bool
	}{
		{"nothing sent", nil, false},
		{"reset mid-greeting", []byte{5, 2, 0}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			sc, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			c.Write(tt.in)
			if tt.reset {
				c.(*net.TCPConn).SetLinger(0)
			}
			c.Close()
			log := make(sink, 4)
			sc.SetDeadline(time.Now().Add(bound))
			// ServeConn returns once the handshake has failed: a record,
			// if any, is written by then.
			New(tunnel.New(tunnel.Config{}, nil), log, zerolog.Nop()).ServeConn(context.Background(), sc, nil, func() { sc.Close() })
			select {
			case r := <-log:
				t.Errorf("access record for a client that asked nothing: %+v", r)
			default:
			}
		})
	}
	t.Run("silent mid-request", func(t *testing.T) {
		log := make(sink, 4)
		m := &front.Mux{SOCKS: New(tunnel.New(tunnel.Config{}, nil), log, zerolog.Nop()), HandshakeTimeout: 100 * time.Millisecond}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go m.Serve(ln, front.Auto)
		t.Cleanup(m.Close)
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(bound))
		c.Write([]byte{5, 1, 0, 5, 1})
		if got, err := io.ReadAll(c); err != nil || string(got) != "\x05\x00" {
			t.Fatalf("got %x, %v; want 05 00 then EOF at the deadline", got, err)
		}
		r := log.next(t)
		if r.Proto != "socks5" || r.Status != 1 || r.ProxyStatus != "http_request_error" || r.Err == nil ||
			!strings.Contains(r.Err.Error(), "handshake_timeout") {
			t.Errorf("access record: %s status %d %q, err %v; want socks5 1 http_request_error after handshake_timeout", r.Proto, r.Status, r.ProxyStatus, r.Err)
		}
	})
}

// A client that stops mid-handshake is cut off by the handshake deadline.
func TestSOCKSHandshakeDeadline(t *testing.T) {
	engine := tunnel.New(tunnel.Config{}, nil)
	m := &front.Mux{SOCKS: New(engine, nil, zerolog.Nop()), HandshakeTimeout: 100 * time.Millisecond}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go m.Serve(ln, front.Auto)
	t.Cleanup(m.Close)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(bound))
	c.Write([]byte{0x05, 0x01, 0x00})
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "\x05\x00" {
		t.Fatalf("got %x, %v; want 05 00 then EOF when the deadline passes", got, err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func TestSOCKS4(t *testing.T) {
	e, err := startEcho(t, "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := uint16(closed.Addr().(*net.TCPAddr).Port)
	closed.Close()

	req4 := func(cmd byte, port uint16, ip string, user string, host string) []byte {
		b := []byte{0x04, cmd}
		b = binary.BigEndian.AppendUint16(b, port)
		b = append(b, ip4(ip)...)
		b = append(b, user...)
		b = append(b, 0)
		if host != "" {
			b = append(b, host...)
			b = append(b, 0)
		}
		return b
	}
	tests := []struct {
		name   string
		req    []byte
		cd     byte
		target string
	}{
		{"socks4", req4(cmdConnect, e.addr.Port(), "127.0.0.1", "alice", ""), 90, e.addr.String()},
		{"socks4a", req4(cmdConnect, e.addr.Port(), "0.0.0.1", "", "localhost"), 90, fmt.Sprintf("localhost:%d", e.addr.Port())},
		{"socks4 refused", req4(cmdConnect, refused, "127.0.0.1", "", ""), 91, fmt.Sprintf("127.0.0.1:%d", refused)},
		{"socks4a dns failure", req4(cmdConnect, 80, "0.0.0.1", "", "ferry-test.invalid"), 91, "ferry-test.invalid:80"},
		{"socks4 bind", req4(cmdBind, 80, "127.0.0.1", "", ""), 91, "127.0.0.1:80"},
		{"socks4 port 0", req4(cmdConnect, 0, "127.0.0.1", "", ""), 91, "127.0.0.1:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			c := w.dial(t)
			if _, err := c.Write(tt.req); err != nil {
				t.Fatal(err)
			}
			rep := make([]byte, 8)
			if _, err := io.ReadFull(c, rep); err != nil {
				t.Fatalf("reading reply: %v", err)
			}
			if rep[0] != 0x00 || rep[1] != tt.cd {
				t.Fatalf("reply %x, want 00 %02x …", rep, tt.cd)
			}
			if tt.cd == 90 {
				roundTrip(t, c, "hello through socks4")
			} else if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
				t.Errorf("after rejection: %q, %v; want EOF", rest, err)
			}
			r := w.log.next(t)
			if r.Proto != "socks4" || r.Status != int(tt.cd) || r.Target != tt.target || (r.Err == nil) != (tt.cd == 90) {
				t.Errorf("access record = %+v", r)
			}
		})
	}
}

// Some clients send their first data right behind the request, before the
// reply. The handshake reads messages whole, so those bytes may be read
// with the request: they reach the target first, and count as bytes up.
func TestSOCKSDataWithRequest(t *testing.T) {
	e, err := startEcho(t, "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := binary.BigEndian.AppendUint16(nil, e.addr.Port())
	req5 := append(append([]byte{0x05, cmdConnect, 0x00, atypIPv4}, ip4("127.0.0.1")...), port...)
	req4 := append(append(append([]byte{0x04, cmdConnect}, port...), ip4("127.0.0.1")...), 0)
	tests := []struct {
		name     string
		greeting []byte // SOCKS5 only: sent first, the method reply read before the request
		request  []byte
		reply    int
	}{
		{"socks5", []byte{0x05, 0x01, 0x00}, req5, 10},
		{"socks4", nil, req4, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			c := w.dial(t)
			if tt.greeting != nil {
				c.Write(tt.greeting)
				sel := make([]byte, 2)
				if _, err := io.ReadFull(c, sel); err != nil || sel[1] != methodNoAuth {
					t.Fatalf("method selection %x, %v", sel, err)
				}
			}
			if _, err := c.Write(append(append([]byte{}, tt.request...), "EARLY"...)); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, tt.reply+5)
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatalf("reply and echo: %v", err)
			}
			if string(got[tt.reply:]) != "EARLY" {
				t.Fatalf("after the reply %q, want the early bytes echoed", got[tt.reply:])
			}
			c.CloseWrite()
			io.Copy(io.Discard, c)
			if r := w.log.next(t); r.BytesUp != 5 || r.BytesDown != 5 || r.Err != nil {
				t.Errorf("access record %+v, want 5 bytes each way", r)
			}
		})
	}
}
