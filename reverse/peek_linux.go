package reverse

import (
	"errors"
	"io"
	"net"

	"golang.org/x/sys/unix"
)

const canPeekTCP = true

// peekTCP copies what is queued on c into buf with MSG_PEEK, waiting in the
// runtime poller (so the read deadline applies) until at least n bytes are
// there. Nothing is taken from the socket. The poller is edge-triggered: a
// wait after a short peek returns when more data arrives, not at once.
func peekTCP(c *net.TCPConn, buf []byte, n int) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var got int
	var opErr error
	err = rc.Read(func(fd uintptr) bool {
		m, _, e := unix.Recvfrom(int(fd), buf, unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch {
		case errors.Is(e, unix.EAGAIN):
			return false
		case e != nil:
			opErr = e
			return true
		case m == 0:
			opErr = io.EOF
			return true
		}
		got = m
		return m >= n
	})
	if err == nil {
		err = opErr
	}
	// A client that sends part of what is needed and then half-closes is
	// only noticed at the read deadline: MSG_PEEK shows the same bytes
	// again and no further edge comes. The handshake timeout bounds it.
	return got, err
}
