package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
)

// sendH2 sends r to the HTTP upstream u as a stream on its HTTP/2
// connection, when it has one (tunnel.Upstream.RoundTripH2); ok false:
// HTTP/1.1 it is, nothing sent. The answer's head is bounded by
// response_timeout and each read of its body by the idle timeout, as on
// HTTP/1.1. A failure to reach the parent comes back as a dialError.
func (cl *Client) sendH2(r *http.Request, rt *route, u *tunnel.Upstream) (*http.Response, bool, error) {
	if upgradeType(r.Header) != "" {
		return nil, false, nil // HTTP/2 has no upgrade (RFC 9113 §8.6)
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	// x/net hands every 1xx to this hook and leaves their number to it;
	// it is the only Got1xxResponse in the request's trace, so its error
	// is the one x/net acts on (a trace composed over it would drop it).
	got1xx := func(code int, h textproto.MIMEHeader) error { return rt.interim(code, 2, 0, h) }
	out := r.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{Got1xxResponse: got1xx}))
	out.Header = r.Header.Clone()
	// HTTP/2 has no Connection field: the connection options said on
	// HTTP/1.1 (TE) are carried by the fields themselves (RFC 9113 §8.2.2).
	delete(out.Header, "Connection")
	if serverWide(r) {
		// RFC 9113 §8.3.1: such an OPTIONS has the :path "*", not "/".
		u := *r.URL
		u.Opaque = "*"
		out.URL = &u
	}
	if a := u.ProxyAuthorization(); a != "" {
		out.Header.Set("Proxy-Authorization", a)
	}
	if cl.responseTimeout > 0 {
		t := time.AfterFunc(cl.responseTimeout, func() { cancel(errResponseTimeout{cl.responseTimeout}) })
		defer t.Stop()
	}
	bodyless := out.Body == nil || out.Body == http.NoBody
	res, parent, ok, err := u.RoundTripH2(out, bodyless && replayable(r))
	if !ok || err != nil {
		var timeout errResponseTimeout
		switch {
		case tunnel.IsNotSent(err):
			err = dialError{errors.Unwrap(err)}
		case rt.tooManyInterim():
			// x/net reset the stream and says why only in its message.
			err = fmt.Errorf("%w (%w)", errTooManyInterim, err)
		case errors.As(context.Cause(ctx), &timeout) && tunnel.IsStreamFailure(err):
			// The parent's connection works: the origin behind it is slow.
			err = fmt.Errorf("%w: %w", timeout, err)
		case errors.As(context.Cause(ctx), &timeout):
			err = responseTimeout(timeout.d)
		}
		cancel(nil)
		return nil, ok, err
	}
	rt.note(tunnel.Outcome{Dialed: parent.String()})
	if err := checkStatus(res.StatusCode); err != nil {
		res.Body.Close()
		cancel(nil)
		return nil, true, err
	}
	if trace := httptrace.ContextClientTrace(r.Context()); trace != nil && trace.GotConn != nil {
		// Not the origin's address: the cache must not take it for one.
		trace.GotConn(httptrace.GotConnInfo{Conn: viaConn{}, Reused: true})
	}
	res.Body = &h2ResponseBody{body: res.Body, cancel: cancel, idle: cl.idle}
	return res, true, nil
}

// h2ResponseBody is an answer's body on a stream: a read that waits
// longer than the idle timeout ends the stream.
type h2ResponseBody struct {
	body   io.ReadCloser
	cancel context.CancelCauseFunc
	idle   time.Duration
	timer  *time.Timer
}

func (b *h2ResponseBody) Read(p []byte) (int, error) {
	if b.idle > 0 {
		if b.timer == nil {
			b.timer = time.AfterFunc(b.idle, func() { b.cancel(tunnel.ErrIdle) })
		} else {
			b.timer.Reset(b.idle)
		}
	}
	n, err := b.body.Read(p)
	if b.timer != nil {
		b.timer.Stop()
	}
	return n, err
}

func (b *h2ResponseBody) Close() error {
	if b.timer != nil {
		b.timer.Stop()
	}
	err := b.body.Close()
	b.cancel(nil)
	return err
}
