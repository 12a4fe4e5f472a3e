package netx

import (
	"io"
	"net"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// peekSocket is Peek for a TCP socket: recv(2) with MSG_PEEK, which takes
// nothing from the socket, and the wait for more in the runtime poller,
// both in one RawConn.Read, so the read deadline applies and data arriving
// between a peek and the wait wakes the wait (the poller is
// edge-triggered). ok is false when the socket cannot be reached.
//
// Each wake-up peeks the queue again from its start: a peer trickling a
// byte at a time costs a copy of up to limit bytes per segment, about
// what buffered reads cost per segment, within the caller's deadline.
func peekSocket(c *net.TCPConn, buf []byte, limit int, enough func([]byte) bool) (b []byte, err error, ok bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, nil, false
	}
	if len(buf) > limit {
		buf = buf[:limit]
	}
	if len(buf) == 0 {
		buf = make([]byte, min(limit, 512))
	}
	var opErr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			m, e := recv(fd, buf, unix.MSG_PEEK|unix.MSG_DONTWAIT)
			switch {
			case e == unix.EINTR:
				continue
			case e == unix.EAGAIN:
				return false
			case e != 0:
				opErr = os.NewSyscallError("recvfrom", e)
				return true
			case m == 0:
				opErr = io.EOF
				return true
			}
			b = buf[:m]
			if enough == nil || enough(b) {
				return true
			}
			if m < len(buf) {
				// The rest is on its way, unless the peer has closed or
				// reset: a peek shows neither behind queued data.
				if opErr = ended(int(fd)); opErr != nil {
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
	return b, err, true
}

// recv is recv(2), called directly: unix.Recvfrom allocates a source
// address on every call, which a TCP socket does not have. buf is not
// empty.
func recv(fd uintptr, buf []byte, flags int) (int, unix.Errno) {
	n, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
		uintptr(flags), 0, 0)
	return int(n), e
}

// ended reports why no more will come from the peer, which a MSG_PEEK
// cannot tell while data is queued (recv(2) returns the data, not the
// error behind it), or nil: the peer closed its side (the socket is in
// CLOSE_WAIT: io.ErrUnexpectedEOF) or reset the connection (CLOSE, with
// the socket's error, ECONNRESET). The states are the kernel's TCP
// states, which x/sys names for BPF. Should the query fail, the wait goes
// on, bounded by the read deadline.
func ended(fd int) error {
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return nil
	}
	switch info.State {
	case unix.BPF_TCP_CLOSE_WAIT:
		return io.ErrUnexpectedEOF
	case unix.BPF_TCP_CLOSE:
		if e, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && e != 0 {
			return os.NewSyscallError("recvfrom", unix.Errno(e))
		}
		return io.ErrUnexpectedEOF
	}
	return nil
}

// DiscardQueued reads and drops what c's peer has sent so far, without
// waiting and whatever c's read deadline (it clears it), so that closing c
// after giving up on the peer (silent until a deadline, say) sends a FIN,
// not the reset that closing with unread bytes queued would (RFC 9293
// §3.6.1). Bounded by 256 KiB. For a conn that is not a *net.TCPConn, and
// off Linux, it does nothing.
func DiscardQueued(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	tc.SetReadDeadline(time.Time{}) // RawConn.Read checks it first
	const maxDiscard = 256 << 10
	rc.Read(func(fd uintptr) bool {
		var buf [4 << 10]byte
		for n := 0; n < maxDiscard; {
			m, e := recv(fd, buf[:], unix.MSG_DONTWAIT)
			if e == unix.EINTR {
				continue
			}
			if e != 0 || m == 0 {
				break
			}
			n += m
		}
		return true // never wait
	})
}

// Quiet reports whether an idle conn's peer has said nothing since: no
// byte and no FIN queued on its socket (under any wrapping that unwraps
// with NetConn, as a TLS conn does), whatever its read deadline. It peeks
// without waiting. A pooled conn that is not quiet must not
// carry the next request (connect/forward).
func Quiet(c net.Conn) bool {
	for {
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return true
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	// Control, not Read: the peek does not wait, and Read would answer
	// from a read deadline in the past without running it.
	quiet := false
	err = rc.Control(func(fd uintptr) {
		var b [1]byte
		for {
			_, e := recv(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			if e != unix.EINTR {
				quiet = e == unix.EAGAIN
				return
			}
		}
	})
	return err == nil && quiet
}
