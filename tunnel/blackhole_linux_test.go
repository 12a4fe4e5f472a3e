package tunnel_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
	"golang.org/x/sys/unix"
)

// blackhole returns a loopback address whose SYNs are dropped: a listener
// with backlog 0 whose one queue slot is already taken and which never
// accepts. Linux drops a SYN when the accept queue is full, so a dial
// there waits for its timeout. It fails the test if the machine does not
// behave that way.
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
	// Fill the queue: dials succeed until one times out (bounded).
	for i := 0; i < 16; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatal("could not fill a backlog-0 accept queue: no blackhole on this machine")
	return ""
}

func TestDialTimeout(t *testing.T) {
	hole := netip.MustParseAddrPort(blackhole(t))
	e := tunnel.New(tunnel.Config{DialTimeout: 150 * time.Millisecond}, nil)
	c, err := e.Dial(context.Background(), request("127.0.0.1", hole.Port()))
	if err == nil {
		c.Close()
		t.Fatal("Dial to a blackhole succeeded")
	}
	if k := tunnel.KindOf(err); k != tunnel.Timeout {
		t.Errorf("KindOf(%v) = %v, want Timeout", err, k)
	}
}
