package tunnel

import (
	"bytes"
	"errors"
	"io"
	"net"

	"golang.org/x/sys/unix"
)

// readHead reads an HTTP response head from c and nothing after it. A
// *net.TCPConn is peeked with MSG_PEEK until the blank line that ends the
// head shows, then exactly the head is read: the conn returned is c, still
// a *net.TCPConn the relay can splice, with the bytes after the head (the
// target's first bytes) still in the socket. Other conns are buffered.
func readHead(c net.Conn, limit int) ([]byte, net.Conn, error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return readHeadBuffered(c, limit)
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return readHeadBuffered(c, limit)
	}
	buf := make([]byte, min(limit, 4096))
	end := -1
	var opErr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			m, _, e := unix.Recvfrom(int(fd), buf, unix.MSG_PEEK|unix.MSG_DONTWAIT)
			switch {
			case errors.Is(e, unix.EAGAIN):
				return false
			case errors.Is(e, unix.EINTR):
				continue
			case e != nil:
				opErr = e
				return true
			case m == 0:
				opErr = io.EOF
				return true
			}
			if i := bytes.Index(buf[:m], []byte("\r\n\r\n")); i >= 0 {
				end = i + 4
				return true
			}
			if m < len(buf) {
				// Part of the head: wait for more. The poller is
				// edge-triggered, so the wait ends when more arrives,
				// not at once; an upstream that stops half way is cut
				// off by the dial deadline.
				return false
			}
			if len(buf) >= limit {
				opErr = errHeadTooBig
				return true
			}
			buf = make([]byte, min(2*len(buf), limit))
		}
	})
	if err == nil {
		err = opErr
	}
	if err != nil {
		if errors.Is(err, io.EOF) && end < 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, nil, err
	}
	head := buf[:end]
	if _, err := io.ReadFull(tc, head); err != nil {
		return nil, nil, err
	}
	return head, c, nil
}
