package tunnel

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/internal/netx"
	"github.com/ferry-proxy/ferry/limit"
)

// Stream is what a relay copies between: a TCP or TLS conn, a conn
// through an upstream, or a stream that is not a socket at all (an HTTP/2
// stream). Its deadlines carry the idle timeout; a CloseWrite method, when
// it has one, passes a half-close on. Between two *net.TCPConn (or conns
// that unwrap to one, see tcpOf) the relay splices.
type Stream interface {
	io.ReadWriteCloser
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// UntimedReader is a Stream read best without read deadlines: an HTTP/2
// stream's body, to which net.Conn deadlines can be given only by a
// goroutine of their own (netx.DeadlineReader; x/net's own read deadline
// ends the stream). The relay reads it directly, never setting a read
// deadline, and watches the tunnel's idle timeout with a timer instead
// (watchIdle). ReadSizes are the sizes to read it with: small while it
// is quiet (what a waiting direction holds), big while reads fill them
// (for HTTP/2, fewer reads: fewer WINDOW_UPDATE frames).
type UntimedReader interface {
	Stream
	ReadSizes() (small, big int)
}

// ErrIdle ends a tunnel on which no byte moved for the idle timeout.
var ErrIdle = errors.New("idle timeout")

// Stats counts what a relay moved.
type Stats struct {
	Up   int64 // client → server
	Down int64 // server → client
}

// relay is one tunnel: two copy directions sharing an activity clock.
type relay struct {
	client, server Stream
	idle           time.Duration
	park           time.Duration // on Linux a direction silent this long parks (park_linux.go)
	lastActive     atomic.Int64  // unix nanoseconds of the last byte moved
	closeOnce      sync.Once
	err            error        // the first failure; it caused the close
	up, down       half         // client → server, server → client
	ended          atomic.Int32 // directions whose copy has ended
	finished       atomic.Int32 // directions done with the relay
	wake           *time.Timer  // resumes a parked direction at the idle timeout; guarded by the parking lock (park_linux.go)
	watchMu        sync.Mutex
	watch          *time.Timer // ends the tunnel at its idle timeout while a direction reads an UntimedReader; guarded by watchMu
	watchDone      bool        // the relay finished: watch is not to be armed again; guarded by watchMu
	stop           func() bool // unhooks the context
	done           func(Stats, error)
}

// half is one copy direction of a relay.
type half struct {
	r        *relay
	dst, src Stream
	n        int64 // bytes copied
	quiet    int64 // unix nanoseconds of its last byte or its (re)start; kept when the relay parks
	sp       *splicer
	noPark   bool         // parking failed once: wait in the runtime's poller
	polled   bool         // its source's socket was added to the parking epoll (park_linux.go)
	parkID   uint64       // non-zero while parked; guarded by the parking lock (park_linux.go)
	meter    *limit.Meter // the tunnel's byte quotas, nil when none (limits.go)
}

func newRelay(ctx context.Context, client, server Stream, idle time.Duration) *relay {
	r := &relay{client: client, server: server, idle: idle}
	m := meterOf(client, server)
	r.up = half{r: r, dst: server, src: client, meter: m}
	r.down = half{r: r, dst: client, src: server, meter: m}
	r.touch()
	r.stop = context.AfterFunc(ctx, func() { r.fail(context.Cause(ctx)) })
	if m != nil {
		m.OnStop(r.fail) // a spent quota ends the tunnel, its error the tunnel's
	}
	return r
}

// Start relays between client and server until both directions have
// ended (each EOF is passed on as a half-close) or one fails, then closes
// both, and calls done with what moved and the first failure (nil when
// both sides closed cleanly). It returns at once: the two directions run
// on goroutines of their own, and done on the last of them. Between two
// *net.TCPConn it uses splice(2) on Linux; it never wraps the conns. idle
// > 0 ends the tunnel when no byte moved either way for that long;
// cancelling ctx ends it at once.
//
// Idle tunnels are mostly goroutine stacks. Start lets the caller's
// goroutine end, and with it the stack its handshake grew (the GC shrinks
// a stack only while under a quarter of it is in use), so the relay's two
// start at the minimum; and on Linux a direction that has moved nothing
// for a while parks, giving up its goroutine until its socket is readable
// again (park_linux.go). Issue 9: memory per idle tunnel.
func Start(ctx context.Context, client, server Stream, idle time.Duration, done func(Stats, error)) {
	r := newRelay(ctx, client, server, idle)
	r.park, r.done = parkAfter, done
	go r.runClientToServer()
	go r.runServerToClient()
}

// The two directions are named funcs so a goroutine dump reads as a tunnel.
func (r *relay) runClientToServer() { r.up.runStarted() }
func (r *relay) runServerToClient() { r.down.runStarted() }

// resume continues a parked direction on a new goroutine.
func (h *half) resume() { h.runStarted() }

// runStarted runs a relay's direction until it ends or parks; the
// last direction to end finishes the relay: it closes the conns and hands
// the result to done.
func (h *half) runStarted() {
	if !h.run() {
		return // parked
	}
	r := h.r
	if r.finished.Add(1) < 2 {
		return
	}
	r.stop()
	r.stopWatch()
	r.fail(nil)
	r.done(Stats{Up: r.up.n, Down: r.down.n}, r.err)
}

// watchIdle ends the tunnel with ErrIdle once no byte has moved either
// way for the idle timeout: for a direction whose reads have no deadline.
func (r *relay) watchIdle() {
	if r.idle <= 0 {
		return
	}
	r.watchMu.Lock()
	defer r.watchMu.Unlock()
	if r.watch == nil && !r.watchDone {
		r.watch = time.AfterFunc(r.idle, r.idleWatched)
	}
}

func (r *relay) idleWatched() {
	if due := time.Duration(r.lastActive.Load() + int64(r.idle) - time.Now().UnixNano()); due > 0 {
		r.watchMu.Lock()
		if !r.watchDone { // not re-armed for a relay that has finished
			r.watch.Reset(due)
		}
		r.watchMu.Unlock()
		return
	}
	r.fail(ErrIdle)
}

func (r *relay) stopWatch() {
	r.watchMu.Lock()
	r.watchDone = true
	if r.watch != nil {
		r.watch.Stop()
	}
	r.watchMu.Unlock()
}

// run copies src to dst: by splice(2) between two TCP sockets (see
// tcpOf), else through a pooled buffer, after what was read ahead of src
// (replayPeeked). It reports false if the direction parked instead of
// ending.
func (h *half) run() bool {
	r := h.r
	err := h.replayPeeked()
	handled, parked := err != nil, false
	if !handled {
		if d, ok := tcpOf(h.dst); ok {
			if s, ok := tcpOf(h.src); ok {
				err, handled, parked = h.splicePump(d, s)
			}
		}
	}
	if !handled {
		if s, ok := tcpOf(h.src); ok {
			err, handled, parked = h.copyFromTCP(h.dst, s)
		}
	}
	if !handled {
		err, parked = h.copyPump(h.dst, h.src)
	}
	if parked {
		return false // h is another goroutine's now
	}
	first := r.ended.Add(1) == 1
	if err != nil {
		r.fail(err) // and unblock the other direction
		return true
	}
	// EOF: pass the half-close on so protocols that shut down one side
	// work. When the other direction has ended already, both conns are
	// closed next, which sends the FIN: no shutdown(2) needed.
	if cw, ok := h.dst.(interface{ CloseWrite() error }); ok && first {
		cw.CloseWrite()
	}
	return true
}

// tcpOf is c's socket when it has one the relay may use directly: c
// itself, or the socket under an upstream's conn or a limited one, which
// are wrapped only to count them (countedConn) or to hold their limits
// (limitedConn) and closed through the wrapper, or under a peeked conn
// (netx.Conn) once replayPeeked has passed on what it read ahead. It
// reads no Peeked, so the direction writing to c may unwrap it while the
// other replays.
func tcpOf(c Stream) (*net.TCPConn, bool) {
	for {
		switch cc := c.(type) {
		case *countedConn:
			c = cc.Conn // a chain (via) counts one conn at each upstream
		case *limitedConn:
			c = cc.Conn
		case *netx.Conn:
			c = cc.Conn
		default:
			tc, ok := c.(*net.TCPConn)
			return tc, ok
		}
	}
}

// replayPeeked writes to dst what was read ahead of src to look at it (a
// netx.Conn's Peeked: a front end's sniff, an upstream's answer head, off
// Linux or inside TLS), outermost first, as reading src would return it;
// the rest can then be read from the socket itself, spliced (tcpproxy's
// Conn does the same).
func (h *half) replayPeeked() error {
	for c := h.src; ; {
		switch cc := c.(type) {
		case *countedConn:
			c = cc.Conn
		case *limitedConn:
			c = cc.Conn
		case *netx.Conn:
			if p := cc.Peeked; len(p) > 0 {
				cc.Peeked = nil
				h.r.touch()
				if err := h.write(h.dst, p); err != nil {
					return err
				}
			}
			c = cc.Conn
		default:
			return nil
		}
	}
}

// write writes b to dst under the idle timeout (armWrite). The rest of a
// write cut short by its deadline is written again while the tunnel is
// busy the other way; a TLS conn cannot be written after a timed-out
// write, so for it the timeout ends the tunnel.
func (h *half) write(dst Stream, b []byte) error {
	r := h.r
	if err := r.armWrite(dst); err != nil {
		return err
	}
	for {
		n, err := dst.Write(b)
		h.n += int64(n)
		if h.meter != nil {
			h.meter.Add(int64(n))
		}
		b = b[n:]
		if err == nil {
			return nil
		}
		if _, ok := tcpOf(dst); !ok {
			if r.idle > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
				return ErrIdle
			}
			return err
		}
		if err = r.rearmWrite(dst, err); err != nil {
			return err
		}
	}
}

func (r *relay) touch() {
	if r.idle > 0 {
		r.lastActive.Store(time.Now().UnixNano())
	}
}

// arm sets the first read deadline of a direction.
func (r *relay) arm(src Stream) error {
	if r.idle <= 0 {
		return nil
	}
	return src.SetReadDeadline(time.Now().Add(r.idle))
}

// rearm decides what a read error means. A deadline that fired while the
// other direction (or a slow write on this one) kept the tunnel busy is
// pushed to lastActive+idle; only a tunnel silent both ways for the whole
// idle period gets ErrIdle. Other errors are returned as they are.
func (r *relay) rearm(src Stream, err error) error {
	next, err := r.nextDeadline(err)
	if err != nil {
		return err
	}
	return src.SetReadDeadline(next)
}

// armWrite bounds a write to dst by the idle timeout. Reads alone cannot:
// when both peers send and neither reads, both directions wait on writes,
// where no read deadline fires, and the tunnel would never end.
func (r *relay) armWrite(dst Stream) error {
	if r.idle <= 0 {
		return nil
	}
	return dst.SetWriteDeadline(time.Now().Add(r.idle))
}

// rearmWrite is rearm for a write's deadline.
func (r *relay) rearmWrite(dst Stream, err error) error {
	next, err := r.nextDeadline(err)
	if err != nil {
		return err
	}
	return dst.SetWriteDeadline(next)
}

// nextDeadline is rearm's and rearmWrite's decision: for a fired idle
// deadline, the next one (lastActive+idle) while the tunnel was busy the
// other way, else ErrIdle; any other error as it is.
func (r *relay) nextDeadline(err error) (time.Time, error) {
	if r.idle <= 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		return time.Time{}, err
	}
	next := time.Unix(0, r.lastActive.Load()).Add(r.idle)
	if !time.Now().Before(next) {
		return time.Time{}, ErrIdle
	}
	return next, nil
}

// fail closes both conns once, keeping err (nil for a clean end) as the
// tunnel's result when it is the first.
func (r *relay) fail(err error) {
	r.closeOnce.Do(func() {
		r.err = err
		r.client.Close()
		r.server.Close()
		// A parked direction resumes, finds its conn closed and ends.
		r.up.unpark()
		r.down.unpark()
	})
}
