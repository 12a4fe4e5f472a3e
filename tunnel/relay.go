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
)

// ErrIdle ends a tunnel on which no byte moved for the idle timeout.
var ErrIdle = errors.New("idle timeout")

// Stats counts what a relay moved.
type Stats struct {
	Up   int64 // client → server
	Down int64 // server → client
}

// relay is one tunnel: two copy directions sharing an activity clock.
type relay struct {
	client, server net.Conn
	idle           time.Duration
	lastActive     atomic.Int64 // unix nanoseconds of the last byte moved
	closeOnce      sync.Once
	err            error // the first failure; it caused the close
	st             Stats
	down           chan struct{} // closed when the server → client copy ends (Relay)
	ended          atomic.Int32  // directions whose copy has ended
	finished       atomic.Int32  // directions done with the relay (Start)
	stop           func() bool   // unhooks the context (Start)
	done           func(Stats, error)
}

// Relay copies between client and server until both directions have ended
// (each EOF is passed on as a half-close) or one fails, then closes both.
// Between two *net.TCPConn it uses splice(2) on Linux; it never wraps the
// conns. idle > 0 ends the tunnel when no byte moved either way for that
// long; cancelling ctx ends it at once. The error is the first failure, or
// nil when both sides closed cleanly.
//
// The client → server copy runs on the caller's goroutine, the other on a
// new one: two goroutines per tunnel. Idle tunnels are mostly goroutine
// stacks, and the runtime halves a stack at GC only when under a quarter
// of it is in use, so the frames below a waiting copy are kept few and
// small (state in the relay, not in locals; no frame between half and the
// pump).
func Relay(ctx context.Context, client, server net.Conn, idle time.Duration) (Stats, error) {
	r := &relay{client: client, server: server, idle: idle, down: make(chan struct{})}
	r.touch()
	stop := context.AfterFunc(ctx, func() { r.fail(context.Cause(ctx)) })
	go r.copyServerToClient()
	r.copyClientToServer()
	<-r.down
	stop()
	r.fail(nil)
	// The error that closed the conns (idle, cancel), not what the other
	// direction saw next ("use of closed network connection").
	return r.st, r.err
}

// Start is Relay on two new goroutines: it returns at once, and done runs
// on the second of them to finish, with what Relay would have returned.
//
// It is for a caller whose handshake grew its goroutine's stack: that
// goroutine can now end, and an idle tunnel costs two fresh, minimal
// stacks. (A stack is shrunk by the GC only while under a quarter of it
// is in use, so one that a handshake grew to 8 KiB stays at 4 KiB or more
// under a waiting relay: issue 9, memory per idle tunnel.)
func Start(ctx context.Context, client, server net.Conn, idle time.Duration, done func(Stats, error)) {
	r := &relay{client: client, server: server, idle: idle, done: done}
	r.touch()
	r.stop = context.AfterFunc(ctx, func() { r.fail(context.Cause(ctx)) })
	go r.runClientToServer()
	go r.runServerToClient()
}

func (r *relay) runClientToServer() {
	r.st.Up = r.half(r.server, r.client)
	r.finish()
}

func (r *relay) runServerToClient() {
	r.st.Down = r.half(r.client, r.server)
	r.finish()
}

// finish ends a Start relay once both directions have: it closes the
// conns and hands the result to done.
func (r *relay) finish() {
	if r.finished.Add(1) < 2 {
		return
	}
	r.stop()
	r.fail(nil)
	r.done(r.st, r.err)
}

// The two directions are named funcs so a goroutine dump reads as a tunnel.
func (r *relay) copyClientToServer() { r.st.Up = r.half(r.server, r.client) }

func (r *relay) copyServerToClient() {
	r.st.Down = r.half(r.client, r.server)
	close(r.down)
}

// half copies src to dst: by splice(2) between two TCP sockets (see
// tcpOf), else through a pooled buffer.
func (r *relay) half(dst, src net.Conn) int64 {
	var n int64
	var err error
	handled := false
	if d, ok := tcpOf(dst); ok {
		if s, ok := tcpOf(src); ok {
			n, err, handled = r.splicePump(d, s)
		}
	}
	if !handled {
		n, err = r.copyPump(dst, src)
	}
	first := r.ended.Add(1) == 1
	if err != nil {
		r.fail(err) // and unblock the other direction
		return n
	}
	// EOF: pass the half-close on so protocols that shut down one side
	// work. When the other direction has ended already, both conns are
	// closed next, which sends the FIN: no shutdown(2) needed.
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && first {
		cw.CloseWrite()
	}
	return n
}

// tcpOf is c's socket when it has one the relay may use directly: c
// itself, or the socket under an upstream's conn, which is wrapped only to
// count it (countedConn) and closed through the wrapper.
func tcpOf(c net.Conn) (*net.TCPConn, bool) {
	for {
		cc, ok := c.(*countedConn)
		if !ok {
			break
		}
		c = cc.Conn // a chain (via) counts one conn at each upstream
	}
	tc, ok := c.(*net.TCPConn)
	return tc, ok
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyPump is the portable path (TLS, wrapped conns): a pooled buffer.
func (r *relay) copyPump(dst, src net.Conn) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var total int64
	if err := r.arm(src); err != nil {
		return 0, err
	}
	for {
		nr, er := src.Read(buf)
		if nr > 0 {
			r.touch()
			nw, ew := dst.Write(buf[:nr])
			total += int64(nw)
			if ew != nil {
				return total, ew
			}
			r.touch()
		}
		if er == io.EOF {
			return total, nil
		}
		if er != nil {
			if er = r.rearm(src, er); er != nil {
				return total, er
			}
		}
	}
}

func (r *relay) touch() {
	if r.idle > 0 {
		r.lastActive.Store(time.Now().UnixNano())
	}
}

// arm sets the first read deadline of a direction.
func (r *relay) arm(src net.Conn) error {
	if r.idle <= 0 {
		return nil
	}
	return src.SetReadDeadline(time.Now().Add(r.idle))
}

// rearm decides what a read error means. A deadline that fired while the
// other direction (or a slow write on this one) kept the tunnel busy is
// pushed to lastActive+idle; only a tunnel silent both ways for the whole
// idle period gets ErrIdle. Other errors are returned as they are.
func (r *relay) rearm(src net.Conn, err error) error {
	if r.idle <= 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	next := time.Unix(0, r.lastActive.Load()).Add(r.idle)
	if !time.Now().Before(next) {
		return ErrIdle
	}
	if e := src.SetReadDeadline(next); e != nil {
		return e
	}
	return nil
}

// fail closes both conns once, keeping err (nil for a clean end) as the
// tunnel's result when it is the first.
func (r *relay) fail(err error) {
	r.closeOnce.Do(func() {
		r.err = err
		r.client.Close()
		r.server.Close()
	})
}
