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
// for ever. Its Hijack hands the client conn out under an idleWatch that
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
	w.conn = &watchedConn{Conn: c}
	w.conn.watch = watchIdle(w.idle, func() {
		w.onIdle()
		c.Close()
	})
	return w.conn, brw, nil
}

// watchedConn is a conn whose reads and writes are counted and watched.
type watchedConn struct {
	net.Conn
	watch    *idleWatch
	up, down atomic.Int64 // bytes read from it, written to it
}

func (w *watchedConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	w.up.Add(int64(n))
	w.watch.moved(n)
	return n, err
}

func (w *watchedConn) Write(p []byte) (int, error) {
	n, err := w.Conn.Write(p)
	w.down.Add(int64(n))
	w.watch.moved(n)
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
	w.watch.stop()
	return w.Conn.Close()
}
