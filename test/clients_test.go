package test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/ferry-proxy/ferry/internal/testnet"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ioTimeout bounds each client read and write of a small exchange.
const ioTimeout = 15 * time.Second

// minimalConfig is the smallest useful config: one auto listener on an
// ephemeral loopback port.
const minimalConfig = `
[[listener]]
name = "main"
address = "127.0.0.1:0"

# The core tests reach origins on loopback, which the default rules deny
# (config.toml.example); the rules are tested in acl_test.go.
[acl]
default = "allow"
`

// tcpOrigin listens on 127.0.0.1:0 and runs serve for each connection on
// its own goroutine. The listener and open conns close at cleanup, and
// cleanup waits for the serve calls to return.
func tcpOrigin(t testing.TB, serve func(c *net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				serve(c.(*net.TCPConn))
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// echoOrigin echoes every byte back and passes the client's half-close on.
func echoOrigin(t testing.TB) string {
	return tcpOrigin(t, func(c *net.TCPConn) {
		io.Copy(c, c)
		c.CloseWrite()
	})
}

// closedPort returns a loopback address nothing listens on: connecting to
// it is refused (a socket bound there, never listening, held until the
// test ends, so no listener can take the port over).
func closedPort(t testing.TB) string { return closedPortOn(t, "127.0.0.1") }

// closedPortOn is closedPort on another loopback address.
func closedPortOn(t testing.TB, ip string) string {
	t.Helper()
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is4() {
		t.Fatalf("closedPortOn %q: an IPv4 address", ip)
	}
	return testnet.RefusedOn(t, a.As4())
}

// blackhole returns a loopback address whose SYNs go unanswered, so that a
// dial to it times out: a listener with backlog 0 whose accept queue is
// filled and never drained (Linux drops a SYN when the queue is full).
func blackhole(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if isTimeout(err) {
			return addr // the queue is full
		}
		if err != nil {
			t.Fatalf("filling backlog of %s: %v", addr, err)
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skipf("could not fill the accept queue of %s: SYNs are not dropped here", addr)
	return ""
}

// dial connects to addr with the small-exchange deadline set; the conn is
// closed at cleanup.
func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	return dialFrom(t, "", addr)
}

// dialFrom is dial from the source address src (any loopback address, so
// one machine can play many clients); "" lets the kernel choose.
func dialFrom(t testing.TB, src, addr string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: ioTimeout}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %q: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(ioTimeout))
	return c.(*net.TCPConn)
}

// isTimeout reports whether err is a deadline or dial timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readHead reads an HTTP response head byte by byte, so that no tunnel
// byte after it is consumed, and returns the status code and the head.
func readHead(c net.Conn) (int, string, error) {
	var head []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if len(head) > 64<<10 {
			return 0, string(head), errors.New("response head too long")
		}
		if _, err := c.Read(b); err != nil {
			return 0, string(head), err
		}
		head = append(head, b[0])
	}
	var code int
	if _, err := fmt.Sscanf(string(head), "HTTP/1.1 %d", &code); err != nil {
		return 0, string(head), fmt.Errorf("bad status line in %q", head)
	}
	return code, string(head), nil
}

// headerOf returns the value of header name in a raw head, "" if absent.
func headerOf(head, name string) string {
	for _, line := range strings.Split(head, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// rawConnect sends CONNECT target to the proxy and returns the status, the
// response head and the conn (deadline set, closed at cleanup).
func rawConnect(t testing.TB, proxy, target string) (int, string, *net.TCPConn) {
	t.Helper()
	c := dial(t, proxy)
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	code, head, err := readHead(c)
	if err != nil {
		t.Fatalf("CONNECT %s: %v (head %q)", target, err, head)
	}
	return code, head, c
}

// connectTunnel opens a CONNECT tunnel to target through the proxy.
func connectTunnel(t testing.TB, proxy, target string) *net.TCPConn {
	t.Helper()
	code, head, c := rawConnect(t, proxy, target)
	if code != http.StatusOK {
		t.Fatalf("CONNECT %s: %q", target, head)
	}
	return c
}

// socks5Request greets the proxy offering no-auth, sends a request with
// command cmd and raw address bytes (ATYP, address, port), and returns the
// reply code and the conn. A conn closed without a reply fails the test.
func socks5Request(t testing.TB, proxy string, cmd byte, addr []byte) (byte, *net.TCPConn) {
	t.Helper()
	rep, _, c := socks5RequestBound(t, proxy, cmd, addr)
	return rep, c
}

// socks5RequestBound is socks5Request that also returns the reply's
// BND.ADDR and BND.PORT.
func socks5RequestBound(t testing.TB, proxy string, cmd byte, addr []byte) (byte, netip.AddrPort, *net.TCPConn) {
	t.Helper()
	c := dial(t, proxy)
	if _, err := c.Write([]byte{5, 1, 0}); err != nil {
		t.Fatal(err)
	}
	var sel [2]byte
	if _, err := io.ReadFull(c, sel[:]); err != nil || sel != [2]byte{5, 0} {
		t.Fatalf("SOCKS5 method selection: %v %v", sel, err)
	}
	req := append([]byte{5, cmd, 0}, addr...)
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	// VER REP RSV ATYP, then the bound address of that type and a port.
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		t.Fatalf("SOCKS5 reply: %v", err)
	}
	n := map[byte]int{1: 4, 4: 16}[h[3]]
	if h[0] != 5 || n == 0 {
		t.Fatalf("SOCKS5 reply header % x", h)
	}
	return h[1], readBound(t, c, n), c
}

// readBound reads a SOCKS5 reply's address of n bytes and its port.
func readBound(t testing.TB, c net.Conn, n int) netip.AddrPort {
	t.Helper()
	b := make([]byte, n+2)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("SOCKS5 reply address: %v", err)
	}
	ip, _ := netip.AddrFromSlice(b[:n])
	return netip.AddrPortFrom(ip.Unmap(), binary.BigEndian.Uint16(b[n:]))
}

// socks5Domain is a DST.ADDR of type domain name (ATYP 3) with its port.
func socks5Domain(host string, port int) []byte {
	b := append([]byte{3, byte(len(host))}, host...)
	return binary.BigEndian.AppendUint16(b, uint16(port))
}

// socks5Addr is a DST.ADDR for a host:port, typed by what host is.
func socks5Addr(t testing.TB, hostport string) []byte {
	t.Helper()
	host, ps, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(ps)
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return socks5Domain(host, port)
	case ip.To4() != nil:
		return binary.BigEndian.AppendUint16(append([]byte{1}, ip.To4()...), uint16(port))
	default:
		return binary.BigEndian.AppendUint16(append([]byte{4}, ip.To16()...), uint16(port))
	}
}

// socks5Tunnel opens a SOCKS5 CONNECT tunnel to target through the proxy.
func socks5Tunnel(t testing.TB, proxy, target string) *net.TCPConn {
	t.Helper()
	rep, c := socks5Request(t, proxy, 1, socks5Addr(t, target))
	if rep != 0 {
		t.Fatalf("SOCKS5 CONNECT %s: reply %#x", target, rep)
	}
	return c
}

// portOf returns the port of a host:port.
func portOf(t testing.TB, hostport string) int {
	t.Helper()
	_, ps, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(ps)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tunnelKind is a way a client opens a raw tunnel through ferry.
type tunnelKind struct {
	name string // also the access event's proto
	open func(t testing.TB, proxy, target string) *net.TCPConn
}

// tunnelKinds are the forward proxy's tunnels; tests that hold for every
// tunnel run once per kind.
var tunnelKinds = []tunnelKind{
	{"connect", connectTunnel},
	{"socks5", socks5Tunnel},
}

// recv takes one value from ch, failing the test after ioTimeout.
func recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(ioTimeout):
		t.Fatalf("nothing received within %v", ioTimeout)
		panic("unreachable")
	}
}
