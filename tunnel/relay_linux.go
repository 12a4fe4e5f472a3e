package tunnel

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ferry-proxy/ferry/internal/netx"
	"golang.org/x/sys/unix"
)

// splicedChunks counts reads that went through splice(2); tests and
// metrics use it to prove the zero-copy path is taken.
var splicedChunks atomic.Int64

// SplicedChunks reports how many relay reads used splice(2) so far.
func SplicedChunks() int64 { return splicedChunks.Load() }

// copiedFromTCP counts chunks copyFromTCP moved (tests: the path is taken).
var copiedFromTCP atomic.Int64

// splicePump moves src to dst with splice(2): socket → pipe → socket, the
// bytes never entering user space.
//
// The splice from src is also the wait: non-blocking, it answers EAGAIN
// when nothing is queued, 0 at EOF, or moves what is queued into the pipe,
// so a chunk costs two syscalls (in and out of the pipe), where asking
// first how much is queued and then splicing took three. The pipe is taken
// from a pool for each attempt and given back when nothing came, so an
// idle tunnel waits in the poller holding its two sockets and nothing more
// (Go's own TCPConn.ReadFrom holds a pipe, two fds, for as long as it
// blocks).
//
// Its state is kept in h.sp, so a direction that parked (park_linux.go)
// goes on where it stopped when it is resumed.
func (h *half) splicePump(dst, src *net.TCPConn) (err error, handled, parked bool) {
	s := h.sp
	if s == nil {
		in, err := src.SyscallConn()
		if err != nil {
			return nil, false, false
		}
		out, err := dst.SyscallConn()
		if err != nil {
			return nil, false, false
		}
		s = newSplicer(in, out)
		h.sp = s
		h.touch()
	} else if err := h.resumed(); err != nil {
		return err, true, false
	}
	if err := h.arm(src); err != nil {
		return err, true, false
	}
	for {
		n, err := s.fill()
		if err == errNoPipe {
			// Out of fds for a pipe: this direction copies instead.
			err, parked := h.copyPump(dst, src)
			return err, true, parked
		}
		if err != nil {
			err = h.rearm(src, err)
			if err == errPark {
				if h.parkIt(s.in) {
					return nil, true, true
				}
				err = h.neverPark(src)
			}
			if err != nil {
				return err, true, false
			}
			continue
		}
		if n == 0 {
			return nil, true, false // EOF
		}
		h.touch()
		splicedChunks.Add(1)
		if err := h.r.armWrite(dst); err != nil {
			return err, true, false
		}
		for {
			left := s.left
			err = s.drain()
			h.n += int64(left - s.left)
			if h.meter != nil {
				h.meter.Add(int64(left - s.left))
			}
			if err == nil {
				break
			}
			if err = h.r.rearmWrite(dst, err); err != nil {
				s.drop()
				return err, true, false
			}
		}
		h.touch()
	}
}

// splicer is one direction's splice state. Its callbacks are built once,
// so waiting allocates nothing.
type splicer struct {
	in, out syscall.RawConn
	p       *pipe
	left    int   // bytes in the pipe not yet written out
	n       int   // what the last splice moved
	err     error // the last splice's error
	fillFn  func(fd uintptr) bool
	drainFn func(fd uintptr) bool
}

func newSplicer(in, out syscall.RawConn) *splicer {
	s := &splicer{in: in, out: out}
	s.fillFn, s.drainFn = s.fillOnce, s.drainOnce
	return s
}

// fill waits (under the conn's read deadline) until src has data, EOF or an
// error, and splices what is queued, up to the pipe's size, into a pipe.
// It returns how much came; 0 is EOF.
func (s *splicer) fill() (int, error) {
	s.n, s.err = 0, nil
	if err := s.in.Read(s.fillFn); err != nil {
		return 0, err
	}
	return s.n, s.err
}

func (s *splicer) fillOnce(fd uintptr) bool {
	p := getPipe()
	if p == nil {
		s.err = errNoPipe
		return true
	}
	for {
		n, err := unix.Splice(int(fd), nil, p.w, nil, pipeSize, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			putPipe(p) // empty: an idle direction holds no pipe
			return false
		case err != nil:
			putPipe(p)
			s.err = err
		case n == 0:
			putPipe(p)
		default:
			s.p, s.n, s.left = p, int(n), int(n)
		}
		return true
	}
}

// drain writes the pipe's bytes to dst, waiting for dst to take them. The
// pipe goes back to the pool once empty; when dst fails it is closed,
// and when dst's write deadline fires it is kept for another try (or
// drop).
func (s *splicer) drain() error {
	s.err = nil
	err := s.out.Write(s.drainFn)
	if err == nil {
		err = s.err
	}
	switch {
	case s.left == 0:
		putPipe(s.p)
		s.p = nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		// kept: the caller decides
	default:
		s.drop()
	}
	return err
}

// drop closes a pipe that still holds bytes nobody will take.
func (s *splicer) drop() {
	if s.p != nil {
		s.p.close()
		s.p = nil
	}
}

func (s *splicer) drainOnce(fd uintptr) bool {
	for s.left > 0 {
		n, err := unix.Splice(s.p.r, nil, int(fd), nil, s.left, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false
		case err != nil:
			s.err = err
			return true
		}
		s.left -= int(n)
	}
	return true
}

// pipeSize is what a pipe is asked to hold (F_SETPIPE_SZ, as Go's own
// splice does): one splice in and one out move up to this much.
const pipeSize = 1 << 20

// pipe is a pipe's two ends, both non-blocking.
type pipe struct{ r, w int }

func newPipe() *pipe {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil
	}
	// A smaller pipe (if the limit is lower) works, with more syscalls.
	unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, pipeSize)
	return &pipe{r: fds[0], w: fds[1]}
}

// close closes both ends.
func (p *pipe) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}

// The pipes not in use, kept for reuse: a pipe is held only while bytes
// pass through it, so a few serve many tunnels. Pipes left unused for a
// whole pipeIdle are closed, so the fds a burst of traffic took return
// soon after it (a sync.Pool would keep them until two GCs had run,
// which an idle process may not do for minutes).
var pipes struct {
	mu    sync.Mutex
	free  []*pipe
	used  bool        // a pipe was given back since the last sweep
	sweep *time.Timer // nil when no pipe is kept
}

const (
	maxFreePipes = 32
	pipeIdle     = 50 * time.Millisecond
)

// errNoPipe is a pipe that could not be made (out of fds, most likely).
var errNoPipe = errors.New("no pipe for splice")

func getPipe() *pipe {
	pipes.mu.Lock()
	if n := len(pipes.free); n > 0 {
		p := pipes.free[n-1]
		pipes.free = pipes.free[:n-1]
		pipes.mu.Unlock()
		return p
	}
	pipes.mu.Unlock()
	return newPipe()
}

// putPipe keeps an empty pipe for reuse.
func putPipe(p *pipe) {
	pipes.mu.Lock()
	if len(pipes.free) >= maxFreePipes {
		pipes.mu.Unlock()
		p.close()
		return
	}
	pipes.free = append(pipes.free, p)
	pipes.used = true
	if pipes.sweep == nil {
		pipes.sweep = time.AfterFunc(pipeIdle, sweepPipes)
	}
	pipes.mu.Unlock()
}

// sweepPipes closes the kept pipes once none was used for pipeIdle.
func sweepPipes() {
	pipes.mu.Lock()
	if pipes.used {
		pipes.used = false
		pipes.sweep.Reset(pipeIdle)
		pipes.mu.Unlock()
		return
	}
	idle := pipes.free
	pipes.free, pipes.sweep = nil, nil
	pipes.mu.Unlock()
	for _, p := range idle {
		p.close()
	}
}

// copyFromTCP copies a TCP socket to a conn splice cannot write to (TLS,
// a wrapped conn, an HTTP/2 stream). Like the splice loop, its read is
// also its wait: the buffer is taken from the pool for each read attempt
// and given back when nothing was queued, so a direction waiting for its
// socket holds no buffer (copyPump, reading TLS, holds one across its
// wait); and like it, a silent direction parks.
func (h *half) copyFromTCP(dst Stream, src *net.TCPConn) (err error, handled, parked bool) {
	rc, err := src.SyscallConn()
	if err != nil {
		return nil, false, false
	}
	if err := h.resumed(); err != nil {
		return err, true, false
	}
	var (
		bp *[]byte
		nr int
		er error
	)
	read := func(fd uintptr) bool {
		bp = readBufs.Get().(*[]byte)
		for {
			n, err := unix.Read(int(fd), *bp)
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
				readBufs.Put(bp)
				bp = nil
				return false
			case err != nil:
				n = 0
			}
			nr, er = n, err
			return true
		}
	}
	if err := h.arm(src); err != nil {
		return err, true, false
	}
	for {
		if err := rc.Read(read); err != nil {
			// A deadline (idle timeout, time to park) or a closed conn:
			// no buffer held.
			err = h.rearm(src, err)
			if err == errPark {
				if h.parkIt(rc) {
					return nil, true, true
				}
				err = h.neverPark(src)
			}
			if err != nil {
				return err, true, false
			}
			continue
		}
		if er != nil {
			readBufs.Put(bp)
			return os.NewSyscallError("read", er), true, false
		}
		if nr == 0 {
			readBufs.Put(bp)
			return nil, true, false // EOF
		}
		h.touch()
		copiedFromTCP.Add(1)
		ew := h.write(dst, (*bp)[:nr])
		readBufs.Put(bp)
		if ew != nil {
			return ew, true, false
		}
		h.touch()
	}
}

// parkWatch is the socket under src that a parked direction reading src
// can be woken by: src's own, or a TLS conn's over TCP (when the conn
// holds no bytes it read ahead, which the socket would not announce); nil
// when there is none.
func parkWatch(src Stream) syscall.RawConn {
	for c := src; ; {
		switch cc := c.(type) {
		case *countedConn:
			c = cc.Conn
		case *limitedConn:
			c = cc.Conn
		case *netx.Conn:
			if len(cc.Peeked) > 0 {
				return nil
			}
			c = cc.Conn
		case *tls.Conn:
			c = cc.NetConn()
		case *netx.RecordBatcher: // under a TLS listener's conns; reads pass through
			c = cc.NetConn()
		case *net.TCPConn:
			rc, err := cc.SyscallConn()
			if err != nil {
				return nil
			}
			return rc
		default:
			return nil
		}
	}
}
