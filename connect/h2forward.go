package connect

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/limit"
	"github.com/ferry-proxy/ferry/tunnel"
	"golang.org/x/net/http2"
)

// serveForward forwards a request on an HTTP/2 stream: its :scheme and
// :authority name the origin (RFC 9113 §8.3.1), so every request that is
// not a CONNECT is a proxy request, as an absolute-form one is in
// HTTP/1.1, and is authorized and forwarded the same way (cache included).
func (h *h2Conn) serveForward(w http.ResponseWriter, r *http.Request) {
	s := h.s
	// x/net gives the request TLS state for :scheme https only.
	r.URL.Scheme = "http"
	if r.TLS != nil {
		r.URL.Scheme = "https"
	}
	r.URL.Host = r.Host
	idle := s.engine.IdleTimeout()
	rc := http.NewResponseController(w)
	body := &h2Body{body: r.Body, rc: rc, idle: idle, ctx: r.Context()}
	r.Body = body
	hw := &h2Response{ResponseWriter: w, rc: rc, idle: idle}

	req := &tunnel.Request{Proto: tunnel.ProtoHTTP, Client: h.client, Method: r.Method}
	rec := accesslog.Start(s.sink, tunnel.ProtoHTTP, req.Client)
	defer rec.Finish()
	rec.Version, rec.Method = versionH2, r.Method
	err := canonicalURL(r)
	rec.URL, rec.Target = r.URL.Redacted(), forwardTarget(r)
	if err == nil {
		err = s.authorizeForward(r, req, rec)
	}
	var lim *limit.Ticket
	if err == nil && !s.fwd.FromMember(r, req.Client) { // a member admitted it already
		lim, err = s.engine.Admit(r.Context(), req)
		hw.meter = lim.Meter()
	}
	defer func() {
		// The response's body was counted as it went (hw.meter); the
		// request's body and the head are counted now.
		lim.Count(rec.BytesUp + max(0, rec.BytesDown-hw.written))
		lim.Done()
	}()
	if err == nil {
		var up interface{ Close() error }
		if u, ferr := s.fwd.Serve(hw, r, req, rec); u != nil {
			up = u.Conn
		} else {
			err = ferr
		}
		if up != nil {
			// An origin's 101 cannot reach an HTTP/2 client (RFC 9113
			// §8.6); none was asked for (x/net refuses Upgrade fields).
			up.Close()
			err = tunnel.Errorf(tunnel.BadGateway, "origin switched protocols unasked")
		}
	}
	rec.BytesUp = body.n.Load()
	switch {
	case err == nil:
		if rec.Status == 0 {
			rec.Status = hw.status
		}
	case context.Cause(r.Context()) != nil:
		rec.Err = errClientGone // the client reset the stream
		if !hw.wroteHeader {
			h.resetEarly()
		}
	case hw.wroteHeader:
		rec.Err = err // the response is cut short: the stream is reset
		panicAbort()
	default:
		s.refuse(hw, r, rec, err)
	}
	rec.BytesDown = max(rec.BytesDown, hw.written)
}

// panicAbort resets the stream (RST_STREAM INTERNAL_ERROR): a response
// cut short must not end as if complete.
func panicAbort() { panic(http.ErrAbortHandler) }

// h2Body is a request body on a stream, counted, each read bounded by
// the idle timeout as an HTTP/1.1 body's is, and a failure said to be
// whose fault it is as an HTTP/1.1 body's is (requestBody): one that
// stops coming is RequestTimeout (408), a client that reset the stream or
// left errClientGone, and one that ends short of its content-length
// (RFC 9113 §8.1.1) BadRequest (400). None is an origin's or an
// upstream's.
type h2Body struct {
	body   io.ReadCloser
	rc     *http.ResponseController
	idle   time.Duration
	ctx    context.Context // the stream's: a reset or the connection's end cancels it
	n      atomic.Int64
	closed atomic.Bool
}

func (b *h2Body) Read(p []byte) (int, error) {
	if b.idle > 0 {
		b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	n, err := b.body.Read(p)
	b.n.Add(int64(n))
	if err != nil && err != io.EOF && !b.closed.Load() {
		err = b.fault(err)
	}
	return n, err
}

// fault maps a failed read to whose fault it is. x/net fails a body with
// a StreamError when the client resets the stream, with its own error when
// the connection ends (and cancels the stream's context just after), with
// os.ErrDeadlineExceeded past the read deadline, and with an error of its
// own when END_STREAM comes short of the content-length: the stream lives
// on then, so what is left is that.
func (b *h2Body) fault(err error) error {
	var se http2.StreamError
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return tunnel.Errorf(tunnel.RequestTimeout, "request body: nothing received for %v (idle_timeout)", b.idle)
	case errors.As(err, &se) || b.ctx.Err() != nil:
		return errClientGone
	}
	return tunnel.Errorf(tunnel.BadRequest, "request body: %v", err)
}

func (b *h2Body) Close() error {
	b.closed.Store(true) // a read after it fails for that, nobody's fault
	return b.body.Close()
}

// h2Response is the response to a forwarded request on a stream: each
// write bounded by the idle timeout, a client that stops reading cut off
// as an HTTP/1.1 one is; it keeps what the log and the error handling
// need.
type h2Response struct {
	http.ResponseWriter
	rc          *http.ResponseController
	idle        time.Duration
	status      int
	wroteHeader bool
	written     int64
	meter       *limit.Meter // the request's byte quotas, counted as the body goes; nil when none
}

func (w *h2Response) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		if w.wroteHeader {
			return
		}
		w.wroteHeader, w.status = true, code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *h2Response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.idle > 0 {
		w.rc.SetWriteDeadline(time.Now().Add(w.idle))
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	if w.meter != nil {
		// A quota spent while the body goes ends the response there
		// (the stream is reset), as it ends a tunnel.
		w.meter.Add(int64(n))
		if err == nil {
			err = w.meter.Stopped()
		}
	}
	return n, err
}

// Unwrap lets http.ResponseController reach x/net's writer (Flush).
func (w *h2Response) Unwrap() http.ResponseWriter { return w.ResponseWriter }
