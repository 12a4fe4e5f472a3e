package front

import (
	"errors"
	"io"
	"net"

	"golang.org/x/sys/unix"
)

// peekTCP reads the first byte with MSG_PEEK through the runtime poller, so
// the read deadline applies and nothing is taken from the socket.
func peekTCP(c *net.TCPConn) (b byte, err error, handled bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	var buf [1]byte
	var n int
	var opErr error
	err = rc.Read(func(fd uintptr) bool {
		n, _, opErr = unix.Recvfrom(int(fd), buf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return !errors.Is(opErr, unix.EAGAIN)
	})
	if err == nil {
		err = opErr
	}
	if err == nil && n == 0 {
		err = io.EOF
	}
	return buf[0], err, true
}
