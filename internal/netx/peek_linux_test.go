package netx

import (
	"errors"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testnet"
	"golang.org/x/sys/unix"
)

// A peer that resets the connection part way (RST, not FIN) ends the wait
// at once with the reset: a peek shows the queued bytes, never the error
// behind them, so without a look at the socket the wait would last until
// the read deadline and the failure be taken for a timeout.
func TestPeekReset(t *testing.T) {
	c, s := testnet.TCPPair(t)
	s.SetReadDeadline(time.Now().Add(bound))
	if _, err := io.WriteString(c, "GET / HT"); err != nil {
		t.Fatal(err)
	}
	c.SetLinger(0) // close sends an RST
	c.Close()
	waitReset(t, s, len("GET / HT"))
	b, _, err := Peek(s, make([]byte, 1024), 4096, hasBlankLine)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("err %v, want the reset (ECONNRESET)", err)
	}
	if string(b) != "GET / HT" {
		t.Errorf("Peek = %q, want what had come", b)
	}
}

// waitReset waits until n bytes are queued on c's socket and its peer's
// reset has come behind them, without taking anything.
func waitReset(t *testing.T, c *net.TCPConn, n int) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		var state uint8
		var queued int
		rc.Control(func(fd uintptr) {
			info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
			if err == nil {
				state = info.State
			}
			queued, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
		})
		if state == unix.BPF_TCP_CLOSE && queued >= n {
			return
		}
		runtime.Gosched()
	}
	t.Fatal("the reset did not arrive")
}
