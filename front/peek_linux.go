package front

import (
	"errors"
	"io"
	"net"

	"golang.org/x/sys/unix"
)

// peekTCP reads the first bytes with MSG_PEEK through the runtime poller,
// so the read deadline applies and nothing is taken from the socket. It
// looks at up to len(buf) bytes, not one: the HTTP front end scans them
// for a whole request head before it peeks again itself (one recvfrom(2)
// less per connection, issue 9). seen is buf[:n].
func peekTCP(c *net.TCPConn, buf []byte) (seen []byte, err error, handled bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, nil, false
	}
	var n int
	var opErr error
	err = rc.Read(func(fd uintptr) bool {
		n, _, opErr = unix.Recvfrom(int(fd), buf, unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return !errors.Is(opErr, unix.EAGAIN)
	})
	if err == nil {
		err = opErr
	}
	if err == nil && n == 0 {
		err = io.EOF
	}
	if err != nil {
		return nil, err, true
	}
	return buf[:n], nil, true
}
