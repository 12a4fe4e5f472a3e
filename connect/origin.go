package connect

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"sync"
	"time"
)

// originClient forwards bodiless GET, HEAD, OPTIONS and TRACE requests
// to origins dialed directly (issue 9): most of a proxy's plain HTTP.
// http.Transport runs two goroutines per origin connection and hands every
// request and response between them and the caller; here the handler's
// goroutine writes the request and reads the response itself, which saves
// two goroutine switches and the transport's bookkeeping per request.
// Other methods, requests with a body and everything through an upstream
// stay with http.Transport (see usesOriginClient).
type originClient struct {
	dial            func(ctx context.Context, network, addr string) (net.Conn, error)
	maxIdle         int
	maxIdlePerHost  int
	idleTimeout     time.Duration // pooled connection unused this long is closed
	responseTimeout time.Duration // wait for a response head; 0: no limit

	mu    sync.Mutex
	idle  map[string][]*originConn // by host:port; the most recently used last
	nIdle int
	sweep *time.Timer // closes connections idle too long; nil when none idle
}

// maxResponseHead bounds a response head, as http.Transport's
// MaxResponseHeaderBytes in newTransport.
const maxResponseHead = 1 << 20

// usesOriginClient tells whether r goes through the originClient: a
// bodiless request that may be sent again. The pool learns that an origin
// closed an idle connection only when it next uses it, and then sends a
// replayable request again; a DELETE or an empty POST stays with
// http.Transport, whose read loop sees such a close while the connection
// is idle.
func usesOriginClient(r *http.Request) bool {
	h := r.Header
	return r.URL.Scheme == "http" && (r.Body == nil || r.Body == http.NoBody) &&
		len(h["Expect"]) == 0 && len(h["Upgrade"]) == 0 && // upgrades: ReverseProxy
		replayable(r)
}

// originConn is one pooled origin connection. It is the bufio.Reader's
// source, so that the response head can be bounded and a response that
// never started can be told from one cut short.
type originConn struct {
	conn     net.Conn
	key      string
	br       *bufio.Reader
	bw       *bufio.Writer
	limit    int64 // bytes the response head may still take; < 0: no limit
	read     int64 // bytes read since the request was written
	idleAt   time.Time
	mu       sync.Mutex // deadline changes against the context's cancel
	canceled bool
}

func (oc *originConn) Read(p []byte) (int, error) {
	if oc.limit == 0 {
		return 0, errResponseHeadTooLarge
	}
	if oc.limit > 0 && int64(len(p)) > oc.limit {
		p = p[:oc.limit]
	}
	n, err := oc.conn.Read(p)
	oc.read += int64(n)
	if oc.limit > 0 {
		oc.limit -= int64(n)
	}
	return n, err
}

var errResponseHeadTooLarge = fmt.Errorf("origin response head over %d bytes", maxResponseHead)

// cancel cuts the exchange short when the request's context ends.
func (oc *originConn) cancel() {
	oc.mu.Lock()
	oc.canceled = true
	oc.conn.SetDeadline(time.Unix(1, 0))
	oc.mu.Unlock()
}

// clearReadDeadline drops the response-head deadline unless the context
// has ended (whose deadline in the past must stay).
func (oc *originConn) clearReadDeadline() {
	oc.mu.Lock()
	if !oc.canceled {
		oc.conn.SetReadDeadline(time.Time{})
	}
	oc.mu.Unlock()
}

// errStale marks a pooled connection the origin had closed: nothing of
// the response came, so a replayable request may be sent again.
type errStale struct{ err error }

func (e errStale) Error() string { return e.err.Error() }
func (e errStale) Unwrap() error { return e.err }

// errResponseTimeout is the response-head timeout, a net.Error with
// Timeout() as http.Transport's, which ferry answers with 504.
type errResponseTimeout struct{ d time.Duration }

func (e errResponseTimeout) Error() string {
	return fmt.Sprintf("timeout: origin sent no response head within %v", e.d)
}
func (errResponseTimeout) Timeout() bool   { return true }
func (errResponseTimeout) Temporary() bool { return true }

// RoundTrip sends r (see usesOriginClient) on a pooled or new connection
// and returns the response, whose body returns the connection to the pool
// when read to its end.
func (c *originClient) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx := r.Context()
	trace := httptrace.ContextClientTrace(ctx)
	key := originKey(r)
	// A pooled connection the origin has closed fails before any answer;
	// the request is then sent on another, at most a few times.
	for tries := 0; ; tries++ {
		oc, reused, err := c.get(ctx, key)
		if err != nil {
			return nil, err
		}
		if trace != nil && trace.GotConn != nil {
			trace.GotConn(httptrace.GotConnInfo{Conn: oc.conn, Reused: reused})
		}
		if err := ctx.Err(); err != nil {
			oc.conn.Close()
			return nil, err
		}
		res, err := c.exchange(ctx, oc, r, trace)
		if err == nil {
			return res, nil
		}
		oc.conn.Close()
		var stale errStale
		if reused && errors.As(err, &stale) && tries < 4 {
			continue
		}
		return nil, err
	}
}

// exchange writes r on oc and reads the response head, passing interim
// (1xx) responses to the trace.
func (c *originClient) exchange(ctx context.Context, oc *originConn, r *http.Request, trace *httptrace.ClientTrace) (*http.Response, error) {
	if c.responseTimeout > 0 {
		oc.conn.SetReadDeadline(time.Now().Add(c.responseTimeout))
	}
	oc.canceled = false
	stop := context.AfterFunc(ctx, oc.cancel)
	oc.read, oc.limit = 0, maxResponseHead
	err := r.Write(oc.bw)
	if err == nil {
		err = oc.bw.Flush()
	}
	var res *http.Response
	for err == nil {
		res, err = http.ReadResponse(oc.br, r)
		if err != nil || res.StatusCode >= 200 || res.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if terr := trace.Got1xxResponse(res.StatusCode, textproto.MIMEHeader(res.Header)); terr != nil {
				err = terr
			}
		}
	}
	if err != nil {
		stop()
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, errResponseTimeout{c.responseTimeout}
		}
		if oc.read == 0 {
			return nil, errStale{err}
		}
		return nil, err
	}
	oc.limit = -1
	oc.clearReadDeadline()
	res.Body = &originBody{c: c, oc: oc, body: res.Body, stop: stop, reuse: !res.Close && !r.Close}
	return res, nil
}

// replayable tells whether r may be sent again after a pooled connection
// failed before any answer (as net/http decides).
func replayable(r *http.Request) bool {
	switch r.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, a := r.Header["Idempotency-Key"]
	_, b := r.Header["X-Idempotency-Key"]
	return a || b
}

func originKey(r *http.Request) string {
	if r.URL.Port() != "" {
		return r.URL.Host
	}
	return net.JoinHostPort(r.URL.Hostname(), "80")
}

// get returns a pooled connection to key, or dials one.
func (c *originClient) get(ctx context.Context, key string) (*originConn, bool, error) {
	var expired []*originConn
	c.mu.Lock()
	list := c.idle[key]
	var oc *originConn
	for len(list) > 0 {
		last := list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
		c.nIdle--
		if c.idleTimeout > 0 && time.Since(last.idleAt) > c.idleTimeout {
			expired = append(expired, last)
			continue
		}
		oc = last
		break
	}
	if len(list) == 0 {
		delete(c.idle, key)
	} else {
		c.idle[key] = list
	}
	c.mu.Unlock()
	for _, e := range expired {
		e.conn.Close()
	}
	if oc != nil {
		return oc, true, nil
	}
	conn, err := c.dial(ctx, "tcp", key)
	if err != nil {
		return nil, false, err
	}
	oc = &originConn{conn: conn, key: key}
	oc.br = bufio.NewReaderSize(oc, 4<<10)
	oc.bw = bufio.NewWriterSize(conn, 4<<10)
	return oc, false, nil
}

// put returns oc to the pool, or closes it when the pool is full.
func (c *originClient) put(oc *originConn) {
	oc.idleAt = time.Now()
	c.mu.Lock()
	if c.nIdle >= c.maxIdle || len(c.idle[oc.key]) >= c.maxIdlePerHost {
		c.mu.Unlock()
		oc.conn.Close()
		return
	}
	if c.idle == nil {
		c.idle = make(map[string][]*originConn)
	}
	c.idle[oc.key] = append(c.idle[oc.key], oc)
	c.nIdle++
	if c.sweep == nil && c.idleTimeout > 0 {
		c.sweep = time.AfterFunc(c.idleTimeout, c.closeExpired)
	}
	c.mu.Unlock()
}

// closeExpired closes the connections idle longer than idleTimeout and
// runs again while any stay pooled.
func (c *originClient) closeExpired() {
	var expired []*originConn
	c.mu.Lock()
	now := time.Now()
	next := c.idleTimeout
	for key, list := range c.idle {
		kept := list[:0]
		for _, oc := range list {
			if age := now.Sub(oc.idleAt); age >= c.idleTimeout {
				expired = append(expired, oc)
			} else {
				kept = append(kept, oc)
				next = min(next, c.idleTimeout-age)
			}
		}
		clear(list[len(kept):])
		if len(kept) == 0 {
			delete(c.idle, key)
		} else {
			c.idle[key] = kept
		}
	}
	c.nIdle -= len(expired)
	if c.nIdle > 0 {
		c.sweep.Reset(next)
	} else {
		c.sweep = nil
	}
	c.mu.Unlock()
	for _, oc := range expired {
		oc.conn.Close()
	}
}

// CloseIdleConnections closes every pooled connection.
func (c *originClient) CloseIdleConnections() {
	c.mu.Lock()
	idle := c.idle
	c.idle, c.nIdle = nil, 0
	if c.sweep != nil {
		c.sweep.Stop()
		c.sweep = nil
	}
	c.mu.Unlock()
	for _, list := range idle {
		for _, oc := range list {
			oc.conn.Close()
		}
	}
}

// originBody is a response body; read to its end it returns the
// connection to the pool, closed before that it closes the connection
// (the rest of the body is not worth reading).
type originBody struct {
	c     *originClient
	oc    *originConn
	body  io.ReadCloser
	stop  func() bool // stops the context's cancel
	reuse bool
	done  bool
}

func (b *originBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.release(b.reuse)
	}
	return n, err
}

func (b *originBody) Close() error {
	if !b.done {
		b.release(false)
	}
	return nil
}

func (b *originBody) release(reuse bool) {
	b.done = true
	if !b.stop() || !reuse {
		// Canceled (the deadline is in the past) or not reusable.
		b.oc.conn.Close()
		return
	}
	b.c.put(b.oc)
}
