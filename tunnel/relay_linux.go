package tunnel

import (
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
// are queued, then splices exactly that many. Go's splice holds a pipe (two
// fds) for as long as a ReadFrom blocks; waiting outside it means an idle
// tunnel costs its two sockets and nothing more.
func (r *relay) splicePump(dst, src *net.TCPConn) (total int64, err error, handled bool) {
	rc, err := src.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	if err := r.arm(src); err != nil {
		return 0, err, true
	}
	p := newReadProbe()
	lr := io.LimitedReader{R: src}
	for {
		avail, eof, err := p.wait(rc)
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
			// The read deadline may pass between the wait and the
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

// probeMax bounds what one probe reports: a chunk the splice moves before
// the next probe.
const probeMax = 4 << 20

// readProbe asks a socket what it has queued in one recvfrom(2) with
// MSG_PEEK|MSG_TRUNC: the kernel counts the queued bytes without copying
// or taking them (the buffer is never touched, so it is NULL), returns 0
// at EOF and EAGAIN when there is nothing yet. That is one syscall per
// chunk, where an ioctl(SIOCINQ) and a MSG_PEEK read for EOF took two. The
// callback is built once per direction, so waiting allocates nothing.
//
// The probe must come before any wait: RawConn.Read (as every read in
// internal/poll) starts by clearing the readiness the poller noted, so
// waiting first could sleep on bytes already queued.
type readProbe struct {
	avail int
	eof   bool
	err   error
	fn    func(fd uintptr) bool
}

func newReadProbe() *readProbe {
	p := &readProbe{}
	p.fn = p.probe
	return p
}

func (p *readProbe) probe(fd uintptr) bool {
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, 0, probeMax,
			unix.MSG_PEEK|unix.MSG_TRUNC|unix.MSG_DONTWAIT, 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN:
			return false
		case e != 0:
			p.err = e
		case n == 0:
			p.eof = true
		default:
			p.avail = int(n)
		}
		return true
	}
}

// wait blocks (under the conn's read deadline) until it has data, EOF or
// an error pending, and reports how many bytes can be read at once.
func (p *readProbe) wait(rc syscall.RawConn) (avail int, eof bool, err error) {
	p.avail, p.eof, p.err = 0, false, nil
	if err := rc.Read(p.fn); err != nil {
		return 0, false, err
	}
	return p.avail, p.eof, p.err
}
