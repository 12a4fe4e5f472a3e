package tunnel

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// splicedChunks counts reads that went through splice(2); tests and
// metrics use it to prove the zero-copy path is taken.
var splicedChunks atomic.Int64

// SplicedChunks reports how many relay reads used splice(2) so far.
func SplicedChunks() int64 { return splicedChunks.Load() }

// splicePump moves src to dst with splice(2) through TCPConn.ReadFrom.
//
// It first waits until src is readable and asks the kernel how many bytes
// are queued (FIONREAD), then splices exactly that many. Go's splice holds a
// pipe (two fds) for as long as a ReadFrom blocks; waiting outside it means
// an idle tunnel costs its two sockets and nothing more.
func (r *relay) splicePump(dst, src *net.TCPConn) (total int64, err error, handled bool) {
	rc, err := src.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	if err := r.arm(src); err != nil {
		return 0, err, true
	}
	lr := io.LimitedReader{R: src}
	for {
		avail, eof, err := waitReadable(rc)
		if err != nil {
			if err = r.rearm(src, err); err != nil {
				return total, err, true
			}
			continue
		}
		if eof {
			return total, nil, true
		}
		r.touch()
		lr.N = int64(avail)
		n, err := dst.ReadFrom(&lr)
		total += n
		splicedChunks.Add(1)
		if err != nil {
			// The read deadline may pass between waitReadable and the
			// splice, which then fails before reading anything: that is
			// the idle check, not a broken tunnel.
			if err = r.rearm(src, err); err != nil {
				return total, err, true
			}
			continue
		}
		r.touch()
	}
}

// waitReadable blocks (under src's read deadline) until src has data, EOF
// or an error pending, and reports how many bytes can be read at once.
func waitReadable(rc syscall.RawConn) (avail int, eof bool, err error) {
	var opErr error
	err = rc.Read(func(fd uintptr) bool {
		n, e := unix.IoctlGetInt(int(fd), unix.SIOCINQ)
		if e != nil {
			opErr = e
			return true
		}
		if n > 0 {
			avail = n
			return true
		}
		// Nothing queued: EOF, a pending error, or not ready yet.
		var b [1]byte
		m, _, e := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch {
		case errors.Is(e, unix.EAGAIN):
			return false
		case e != nil:
			opErr = e
		case m == 0:
			eof = true
		default:
			avail = m
		}
		return true
	})
	if err == nil {
		err = opErr
	}
	return avail, eof, err
}
