package connect

import (
	"io"
	"sync/atomic"
	"time"
)

// idleWatch bounds an exchange by the idle timeout, as the tunnel relay
// bounds a tunnel: once nothing has moved for idle (moved is told of every
// byte), abort runs, once. A nil watch, or one with idle 0, watches
// nothing. Used for plain-HTTP bodies (a request body the client stops
// sending, a response body that stops coming or that the client stops
// reading) and upgraded connections.
type idleWatch struct {
	idle  time.Duration
	last  atomic.Int64 // unix nanoseconds of the last byte moved
	fired atomic.Bool
	timer *time.Timer
	abort func()
}

func watchIdle(idle time.Duration, abort func()) *idleWatch {
	w := &idleWatch{idle: idle, abort: abort}
	if idle > 0 {
		w.last.Store(time.Now().UnixNano())
		w.timer = time.AfterFunc(idle, w.check)
	}
	return w
}

// check runs when the exchange may have been quiet for idle: it aborts
// if so, else looks again when it would be.
func (w *idleWatch) check() {
	quiet := time.Since(time.Unix(0, w.last.Load()))
	if quiet < w.idle {
		w.timer.Reset(w.idle - quiet)
		return
	}
	w.fired.Store(true)
	w.abort()
}

// moved notes n bytes moved.
func (w *idleWatch) moved(n int) {
	if n > 0 && w != nil && w.timer != nil {
		w.last.Store(time.Now().UnixNano())
	}
}

// stop ends the watch and reports whether it fired.
func (w *idleWatch) stop() bool {
	if w == nil {
		return false
	}
	if w.timer != nil {
		w.timer.Stop()
	}
	return w.fired.Load()
}

// timedOut reports whether the watch fired.
func (w *idleWatch) timedOut() bool { return w != nil && w.fired.Load() }

// reader and writer pass r and w through, noting what moves.
func (w *idleWatch) reader(r io.Reader) io.Reader {
	if w.timer == nil {
		return r
	}
	return watchedReader{r, w}
}

func (w *idleWatch) writer(wr io.Writer) io.Writer {
	if w.timer == nil {
		return wr
	}
	return watchedWriter{wr, w}
}

type watchedReader struct {
	r io.Reader
	w *idleWatch
}

func (r watchedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.w.moved(n)
	return n, err
}

type watchedWriter struct {
	wr io.Writer
	w  *idleWatch
}

func (w watchedWriter) Write(p []byte) (int, error) {
	n, err := w.wr.Write(p)
	w.w.moved(n)
	return n, err
}
