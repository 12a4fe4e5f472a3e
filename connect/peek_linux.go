package connect

import (
	"io"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// peekHead looks at what c has sent so far with MSG_PEEK, taking nothing
// from the socket, until scanHead can tell what it is or limit bytes are
// queued without an end of head (then it returns headIncomplete and b of
// length limit). It waits for more in the runtime poller under c's read
// deadline: the peek and the wait run in one RawConn.Read, so data arriving
// between them wakes the wait. buf is the first buffer to peek into; a
// larger one is allocated only when buf fills up.
//
// Each wake-up peeks the queue again from its start: a client trickling its
// head a byte at a time costs a copy of up to limit bytes per segment, about
// what net/http's reads cost per segment, within the handshake deadline.
func peekHead(c *net.TCPConn, buf []byte, limit int) (b []byte, scan headScan, n int, err error, handled bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, 0, 0, nil, false
	}
	var opErr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			m, e := peek(fd, buf)
			switch {
			case e == unix.EINTR:
				continue
			case e == unix.EAGAIN:
				return false
			case e != 0:
				opErr = e
				return true
			case m == 0:
				opErr = io.EOF
				return true
			}
			b = buf[:m]
			if scan, n = scanHead(b); scan != headIncomplete {
				return true
			}
			if m < len(buf) {
				// The rest of the head is on its way, unless the client
				// has closed: a peek does not show the FIN behind data.
				if finReceived(int(fd)) {
					opErr = io.ErrUnexpectedEOF
					return true
				}
				return false
			}
			if len(buf) >= limit {
				return true
			}
			buf = make([]byte, min(2*len(buf), limit))
		}
	})
	if err == nil {
		err = opErr
	}
	return b, scan, n, err, true
}

// finReceived reports whether the peer has closed its side, which a
// MSG_PEEK cannot tell while data is queued: the socket is in CLOSE_WAIT
// (the kernel's TCP states, which x/sys names for BPF). Should the query
// fail, the wait goes on, bounded by the read deadline.
func finReceived(fd int) bool {
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	return err == nil && info.State == unix.BPF_TCP_CLOSE_WAIT
}

// peek is recv(2) with MSG_PEEK, called directly: unix.Recvfrom allocates
// a source address on every call, which a TCP socket does not have.
func peek(fd uintptr, buf []byte) (int, unix.Errno) {
	if len(buf) == 0 {
		return 0, unix.EINVAL
	}
	n, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
		unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	return int(n), e
}

// discardQueued reads and drops what c's client has sent so far, without
// waiting and whatever c's read deadline, so that closing c after a head
// given up on (a client silent until the deadline, say) sends a FIN, not
// the RST that closing with unread bytes queued would (RFC 9293 §3.6.1).
// Bounded by maxDiscard bytes.
func discardQueued(c *net.TCPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	c.SetReadDeadline(time.Time{}) // RawConn.Read checks it first
	const maxDiscard = 256 << 10
	rc.Read(func(fd uintptr) bool {
		var buf [4 << 10]byte
		for n := 0; n < maxDiscard; {
			m, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
				unix.MSG_DONTWAIT, 0, 0)
			if e == unix.EINTR {
				continue
			}
			if e != 0 || m == 0 {
				break
			}
			n += int(m)
		}
		return true // never wait
	})
}
