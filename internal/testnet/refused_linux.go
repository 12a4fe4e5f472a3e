package testnet

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// RefusedOn returns an address on the loopback address ip (IPv4) where a
// dial is refused: a socket bound there that never listens, so the
// kernel answers SYNs with a reset. Held until the test ends, the port
// cannot be handed to anyone else, as a listener's port closed at once
// can (to the proxy under test's own listener, say).
func RefusedOn(t testing.TB, ip [4]byte) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: ip}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d.%d.%d.%d:%d", ip[0], ip[1], ip[2], ip[3], sa.(*unix.SockaddrInet4).Port)
}

// Refused is RefusedOn 127.0.0.1.
func Refused(t testing.TB) string { return RefusedOn(t, [4]byte{127, 0, 0, 1}) }
