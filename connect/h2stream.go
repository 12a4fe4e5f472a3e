package connect

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
)

// h2Stream is the client's side of a tunnel on an HTTP/2 stream: what
// the relay (tunnel.Stream) reads is the request's DATA, what it writes
// goes out as the response's DATA. The handler that answered the CONNECT
// waits on done and returns when the relay is through with the response,
// which ends the stream (END_STREAM).
//
// Deadlines are the relay's idle timeout. Reads take none: the relay
// reads the request body directly (a tunnel.UntimedReader) and watches
// the idle timeout with a timer. A write deadline is x/net's, which
// resets the stream when it fires: the relay treats a timed-out write on
// a stream that is not a socket as the tunnel's end anyway.
type h2Stream struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	body io.ReadCloser
	busy int           // the read size while the client keeps sending (ReadSizes)
	done chan struct{} // closed when w is no longer used: the handler may return

	mu       sync.Mutex   // held across each write
	want     time.Time    // the relay's write deadline; guarded by mu
	armed    time.Time    // the one given to x/net; guarded by mu
	armedAt  atomic.Int64 // armed, in Unix nanoseconds, for Read; 0 when none
	armedOn  atomic.Int64 // when it was given, in Unix nanoseconds
	rel      sync.Mutex   // guards released
	released bool         // done is closed: w is not to be used
	ended    atomic.Bool
	closed   atomic.Bool
	writing  atomic.Bool
}

// The relay reads h2ReadSize from the request body at a time, and up to
// h2BusyReadSize while the client keeps sending: fewer reads, fewer
// WINDOW_UPDATE frames to the client (ReadSizes). What it took and its target
// has not is held beyond the flow-control windows, so it stays small: a
// connection of 100 stalled streams holds conn_window and 6.4 MiB more
// at most.
const (
	h2ReadSize     = 2 << 10
	h2BusyReadSize = 64 << 10
)

// newH2Stream is the tunnel on the stream of w and r, whose flow-control
// window is window bytes.
func newH2Stream(w http.ResponseWriter, r *http.Request, window int) *h2Stream {
	busy := max(h2ReadSize, min(h2BusyReadSize, window/2))
	return &h2Stream{w: w, rc: http.NewResponseController(w),
		body: r.Body, busy: busy, done: make(chan struct{})}
}

// ReadSizes are the sizes the relay reads the request body with.
func (s *h2Stream) ReadSizes() (small, big int) { return h2ReadSize, s.busy }

// Read reads the client's DATA. Once the tunnel has sent its last byte
// (CloseWrite), the stream's end (a reset the handler's return causes)
// is EOF.
//
// x/net resets the stream when the write deadline given to it passes,
// whether a write is under way or not. So while the upload moves and the
// download is silent, that deadline is taken back before it is due; and
// a reset that came from it anyway (the relay's own idle check late on a
// loaded machine) is the idle timeout it stands for.
func (s *h2Stream) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	switch {
	case n > 0:
		s.uploadMoved()
	case err == nil || err == io.EOF || errors.Is(err, os.ErrDeadlineExceeded):
	case s.ended.Load():
		err = io.EOF
	case s.writeDeadlinePassed():
		err = tunnel.ErrIdle
	}
	return n, err
}

// uploadMoved disarms a write deadline that is more than half way to
// firing, unless a write is under way (its deadline is the one that
// matters then): the next write arms a fresh one. At most one round trip
// to the connection's goroutine per half idle timeout.
func (s *h2Stream) uploadMoved() {
	at := s.armedAt.Load()
	if at == 0 || time.Now().UnixNano() < at-(at-s.armedOn.Load())/2 {
		return
	}
	if !s.mu.TryLock() {
		return
	}
	defer s.mu.Unlock()
	if s.armed.IsZero() {
		return
	}
	s.armed = time.Time{}
	s.armedAt.Store(0)
	s.rel.Lock()
	if !s.released {
		s.rc.SetWriteDeadline(time.Time{})
	}
	s.rel.Unlock()
}

// writeDeadlinePassed reports whether the write deadline given to x/net
// has passed: a reset the stream got then is that deadline's.
func (s *h2Stream) writeDeadlinePassed() bool {
	at := s.armedAt.Load()
	return at != 0 && time.Now().UnixNano() >= at
}

// Write sends p as DATA at once.
func (s *h2Stream) Write(p []byte) (int, error) {
	// writing, then closed here; closed, then writing in Close: one of
	// the two sees the other, so a blocked write is always cut.
	s.writing.Store(true)
	defer s.writing.Store(false)
	if s.closed.Load() {
		return 0, net.ErrClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rel.Lock()
	gone := s.released
	s.rel.Unlock()
	if gone {
		return 0, net.ErrClosed
	}
	// Only Close releases w concurrently, and it waits for mu first.
	s.arm()
	n, err := s.w.Write(p)
	if err == nil {
		err = s.rc.Flush()
	}
	if err != nil && !s.armed.IsZero() && !time.Now().Before(s.armed) {
		err = os.ErrDeadlineExceeded // the stream was reset for it
	}
	return n, err
}

// arm gives x/net the relay's write deadline, with slack: every call
// costs a round trip to the connection's goroutine, so the deadline given
// is an eighth of its distance later than asked, and is moved only once
// the relay's has passed it. A write is cut after at least the idle
// timeout, never before.
func (s *h2Stream) arm() {
	switch {
	case s.want.IsZero() && s.armed.IsZero():
		return
	case s.want.IsZero():
		s.armed = time.Time{}
	case s.armed.IsZero() || s.want.After(s.armed):
		s.armed = s.want.Add(time.Until(s.want) / 8)
	default:
		return
	}
	if s.armed.IsZero() {
		s.armedAt.Store(0)
	} else {
		s.armedAt.Store(s.armed.UnixNano())
		s.armedOn.Store(time.Now().UnixNano())
	}
	s.rc.SetWriteDeadline(s.armed)
}

// SetReadDeadline does nothing: reads take no deadline (the relay sets
// none on an UntimedReader, and capsules are read without one).
func (s *h2Stream) SetReadDeadline(time.Time) error { return nil }

func (s *h2Stream) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	s.want = t
	s.mu.Unlock()
	return nil
}

// CloseWrite ends the response (END_STREAM) once the target's side has
// ended: the handler returns. x/net then resets a stream the client has
// not ended yet (RST_STREAM NO_ERROR, RFC 9113 §8.1): an HTTP/2 server
// cannot keep reading after its response. The relay calls it from the
// direction that writes, after its last write.
func (s *h2Stream) CloseWrite() error {
	s.ended.Store(true)
	s.release()
	return nil
}

// Close ends the stream: a write blocked on the client's flow control is
// cut (x/net resets the stream), and the handler returns.
func (s *h2Stream) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.body.Close()
	s.rel.Lock()
	if !s.released && s.writing.Load() {
		s.rc.SetWriteDeadline(time.Unix(1, 0))
	}
	s.rel.Unlock()
	s.mu.Lock()
	s.release()
	s.mu.Unlock()
	return nil
}

// release lets the handler return, once; w is not used after it.
func (s *h2Stream) release() {
	s.rel.Lock()
	defer s.rel.Unlock()
	if !s.released {
		s.released = true
		close(s.done)
	}
}
