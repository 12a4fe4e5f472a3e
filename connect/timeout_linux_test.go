package connect_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
	"golang.org/x/sys/unix"
)

// blackhole returns a loopback address whose SYNs are dropped: a listener
// with backlog 0 whose one queue slot is already taken and which never
// accepts. Linux drops a SYN when the accept queue is full, so a dial
// there waits for its timeout (nothing here leaves the machine).
func blackhole(t testing.TB) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
	for i := 0; i < 16; i++ { // fill the queue until a dial times out
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatal("could not fill a backlog-0 accept queue: no blackhole on this machine")
	return ""
}

func TestDialTimeoutIs504(t *testing.T) {
	hole := blackhole(t)
	for _, req := range []string{
		"CONNECT " + hole + " HTTP/1.1\r\nHost: " + hole + "\r\n\r\n",
		"GET http://" + hole + "/ HTTP/1.1\r\nHost: " + hole + "\r\n\r\n",
	} {
		method, _, _ := strings.Cut(req, " ")
		t.Run(method, func(t *testing.T) {
			w := newWorld(t, options{engine: tunnel.Config{DialTimeout: 150 * time.Millisecond}})
			c := w.raw(t)
			c.send(t, req)
			resp, body := c.response(t, method)
			if resp.StatusCode != 504 {
				t.Errorf("status %d %q, want 504", resp.StatusCode, body)
			}
			if ps := resp.Header.Get("Proxy-Status"); !strings.HasPrefix(ps, "ferry; error=connection_timeout") {
				t.Errorf("Proxy-Status %q, want connection_timeout", ps)
			}
		})
	}
}
