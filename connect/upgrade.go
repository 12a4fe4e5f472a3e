package connect

import (
	"bufio"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// upgradeWriter is the ResponseWriter ReverseProxy gets for a request
// that asks for an upgrade. After a 101, ReverseProxy copies the two conns
// until both ends are done, with no deadline: a client that left while the
// origin stays silent would hold the connection (and its max_conns slot)
// for ever. Its Hijack hands the client conn out under a watchdog that
// ends the exchange after the tunnels' idle timeout with no byte either
// way, as a CONNECT tunnel ends, and counts the bytes for the access log.
type upgradeWriter struct {
	*countingWriter
	idle   time.Duration
	onIdle func() // ends the exchange: the origin side goes with the request
	conn   *watchedConn
}

func (w *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.countingWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = watch(c, w.idle, func() {
		w.onIdle()
		c.Close()
	})
	return w.conn, brw, nil
}

// watchedConn is a conn whose reads and writes are counted and timed; with
// idle > 0, onIdle runs once no read or write has moved a byte for idle.
type watchedConn struct {
	net.Conn
	idle     time.Duration
	last     atomic.Int64 // unix nanoseconds of the last byte moved
	up, down atomic.Int64 // bytes read from it, written to it
	timedOut atomic.Bool
	timer    *time.Timer
	onIdle   func()
}

func watch(c net.Conn, idle time.Duration, onIdle func()) *watchedConn {
	w := &watchedConn{Conn: c, idle: idle, onIdle: onIdle}
	w.last.Store(time.Now().UnixNano())
	if idle > 0 {
		w.timer = time.AfterFunc(idle, w.check)
	}
	return w
}

// check runs when the conn may have been quiet for idle: it ends the
// exchange if so, else looks again when it would be.
func (w *watchedConn) check() {
	quiet := time.Since(time.Unix(0, w.last.Load()))
	if quiet < w.idle {
		w.timer.Reset(w.idle - quiet)
		return
	}
	w.timedOut.Store(true)
	w.onIdle()
}

func (w *watchedConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if n > 0 {
		w.up.Add(int64(n))
		w.last.Store(time.Now().UnixNano())
	}
	return n, err
}

func (w *watchedConn) Write(p []byte) (int, error) {
	n, err := w.Conn.Write(p)
	if n > 0 {
		w.down.Add(int64(n))
		w.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// CloseWrite passes a half-close on (ReverseProxy does when the origin
// ends its side).
func (w *watchedConn) CloseWrite() error {
	if cw, ok := w.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (w *watchedConn) Close() error {
	if w.timer != nil {
		w.timer.Stop()
	}
	return w.Conn.Close()
}
