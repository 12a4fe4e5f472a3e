package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/ferry-proxy/ferry/internal/netx"
)

// connectStream asks the parent, on pc, for a tunnel to addr: a CONNECT
// stream (RFC 9113 §8.5), whose 2xx makes the stream the tunnel. ctx
// bounds the wait for the answer; the stream itself lives until closed.
func (u *Upstream) connectStream(ctx context.Context, pc *h2Parent, addr string) (net.Conn, error) {
	h := http.Header{}
	if u.authz != "" {
		h.Set("Proxy-Authorization", u.authz)
	}
	// The request's body is what the tunnel sends: a pipe, so that a
	// write has the net.Conn deadline the relay's idle timeout needs.
	body, up := net.Pipe()
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	req := (&http.Request{Method: http.MethodConnect, URL: &url.URL{Host: addr}, Host: addr,
		Header: h, Body: body}).WithContext(sctx)
	stop := context.AfterFunc(ctx, cancel)
	res, err := pc.cc.RoundTrip(req)
	if !stop() || err != nil {
		cancel()
		up.Close()
		if err == nil {
			res.Body.Close()
			err = ctx.Err()
		}
		err = ctxErr(ctx, fmt.Errorf("CONNECT %s on upstream %s's HTTP/2 connection: %w", addr, u.name, err))
		if st := pc.cc.State(); KindOf(err) == Timeout && !st.Closed && !st.Closing {
			return nil, u.answerTimeout(err) // the connection works: the parent is dialing
		}
		return nil, err
	}
	if err := u.connectReplyError(replyOf(res.StatusCode, res.Header), addr); err != nil {
		res.Body.Close()
		cancel()
		up.Close()
		return nil, err
	}
	return &h2Stream{pc: pc, up: up, body: res.Body, cancel: cancel}, nil
}

// A stream's reader takes h2ReadSize of the parent's DATA at a time, and
// up to h2BusyReadSize while the parent keeps sending: fewer reads, fewer
// WINDOW_UPDATE frames to the parent (ReadSizes; the DeadlineReader).
const (
	h2ReadSize     = 2 << 10
	h2BusyReadSize = 256 << 10
)

// h2Stream is a tunnel on a CONNECT stream to a parent, as a net.Conn:
// reads are the response's DATA, writes the request's (a pipe, with
// net.Conn deadlines). CloseWrite ends the request (END_STREAM), a
// half-close the parent passes on; Close resets a stream that has not
// ended both ways.
//
// The relay reads the response body directly (an UntimedReader: it sets
// no read deadline). Whoever sets one before reading (a handshake over
// the stream to the next hop of a via chain, or TLS over it) reads
// through a DeadlineReader from then on, a goroutine of its own.
type h2Stream struct {
	pc     *h2Parent
	up     net.Conn // the request body's writing end
	body   io.ReadCloser
	cancel context.CancelFunc
	once   sync.Once

	mu     sync.Mutex
	read   bool                 // read directly: no deadline from now on; guarded by mu
	timed  *netx.DeadlineReader // reads through it once a read deadline was set; guarded by mu
	closed bool                 // guarded by mu
}

func (s *h2Stream) Read(p []byte) (int, error) {
	s.mu.Lock()
	d := s.timed
	s.read = d == nil
	s.mu.Unlock()
	if d != nil {
		return d.Read(p)
	}
	return s.body.Read(p)
}

func (s *h2Stream) ReadSizes() (small, big int) { return h2ReadSize, h2BusyReadSize }
func (s *h2Stream) Write(p []byte) (int, error) { return s.up.Write(p) }
func (s *h2Stream) CloseWrite() error           { return s.up.Close() }

func (s *h2Stream) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.up.Close()
		s.mu.Lock()
		s.closed = true
		if s.timed != nil {
			s.timed.Close()
		}
		s.mu.Unlock()
		s.body.Close()
	})
	return nil
}

// errDirectReads is a read deadline asked for after the body was read
// without one: a second reader of the body would take its bytes out of
// order.
var errDirectReads = errors.New("a read deadline on an HTTP/2 stream already read without one")

// setReadDeadline gives reads a deadline, through a DeadlineReader made
// the first time.
func (s *h2Stream) setReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timed == nil {
		if t.IsZero() {
			return nil // no deadline: nothing to give
		}
		if s.read {
			return errDirectReads
		}
		if s.closed {
			return net.ErrClosed
		}
		s.timed = netx.NewDeadlineReader(s.body, h2ReadSize, h2BusyReadSize)
	}
	return s.timed.SetReadDeadline(t)
}

func (s *h2Stream) LocalAddr() net.Addr  { return s.pc.local }
func (s *h2Stream) RemoteAddr() net.Addr { return s.pc.remote }

func (s *h2Stream) SetDeadline(t time.Time) error {
	s.setReadDeadline(t)
	return s.up.SetWriteDeadline(t)
}
func (s *h2Stream) SetReadDeadline(t time.Time) error  { return s.setReadDeadline(t) }
func (s *h2Stream) SetWriteDeadline(t time.Time) error { return s.up.SetWriteDeadline(t) }
