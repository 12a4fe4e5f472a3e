package connect

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/http1"
	"github.com/ferry-proxy/ferry/internal/netx"
	"github.com/ferry-proxy/ferry/internal/proxyhdr"
	"github.com/ferry-proxy/ferry/tunnel"
)

// httpConn is one client connection read by ferry's HTTP/1 reader: its
// requests are served one after the other (a pipelined one waits in the
// buffer) until either side ends the connection.
type httpConn struct {
	s      *Server
	base   context.Context // the listener's conns' (netx.Tracker): a drain cancels it; tunnels run on it
	ctx    context.Context // the conn's own, from base, for its requests: cancelled when its serving ends
	c      net.Conn
	client netip.AddrPort
	lim    headLimit
	br     *bufio.Reader
	bw     *bufio.Writer
	end    func()

	idle      atomic.Bool // waiting for the next request: Shutdown may close it
	headBytes int64       // bytes the last head read took (a head cut short had some)

	// wmu serialises writes to bw: the response's, on the serving
	// goroutine, and a 100 Continue, on the forwarder's body writer.
	wmu       sync.Mutex
	sent100   bool // 100 Continue sent for the request being served
	finalHead bool // the final response's head has started: no 100 after it

	bg     chan struct{} // the background read's end; nil when none runs
	bgErr  error         // the background read's result, once bg is closed
	bgGone atomic.Bool   // the background read saw the client leave
}

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

// serveHTTP1 serves c's requests until it ends. end is called when the
// conn is done with: when the loop returns, or when a tunnel (CONNECT or an
// upgrade) that took the conn over ends.
func (s *Server) serveHTTP1(base context.Context, c net.Conn, end func()) {
	// The conn's own context: what each request derives from it stays
	// off the context the listener's conns share (netx.Tracker). It ends
	// with this goroutine: a tunnel that takes the conn over runs on
	// base, so that an idle tunnel keeps no context of its own (about
	// 0.45 KiB: the context, its done channel and the map its first
	// child leaves on it).
	ctx, cancel := context.WithCancel(base)
	hc := &httpConn{s: s, base: base, ctx: ctx, c: c, end: end}
	hc.client = proxyhdr.ClientOf(ctx, c)
	hc.lim.r = c
	hc.br = readers.Get().(*bufio.Reader)
	hc.br.Reset(&hc.lim)
	hc.bw = writers.Get().(*bufio.Writer)
	hc.bw.Reset(c)
	s.conns.Store(hc, struct{}{})
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	taken := false
	defer func() {
		stop() // first: the conn may be a tunnel's now
		cancel()
		s.conns.Delete(hc)
		if !taken {
			hc.release()
			c.Close()
			hc.end()
		}
	}()
	for first := true; ; first = false {
		if !hc.waitForRequest(first) {
			return
		}
		r, f, err := hc.readHead()
		if err != nil {
			hc.refuseHead(r, err)
			return
		}
		keep, tunnelled := hc.serve(r, f)
		if tunnelled {
			taken = true
			return
		}
		if !keep {
			netx.LingerClose(hc.c)
			return
		}
	}
}

// release gives the buffers back, once.
func (hc *httpConn) release() {
	if hc.br == nil {
		return
	}
	hc.br.Reset(nil)
	readers.Put(hc.br)
	hc.bw.Reset(nil)
	writers.Put(hc.bw)
	hc.br, hc.bw = nil, nil
}

// waitForRequest waits for the first byte of the next request: the
// handshake deadline the mux set for the first, keepalive_timeout between
// requests (an idle conn Shutdown closes at once). Then the whole head
// has handshake_timeout. After a forwarded request the background read
// that watched the client is still waiting for its next byte: it is that
// wait, under keepalive_timeout from now.
func (hc *httpConn) waitForRequest(first bool) bool {
	s := hc.s
	if !first {
		// The deadline before the check: Shutdown's, set after it, wins.
		hc.idle.Store(true)
		hc.c.SetReadDeadline(time.Now().Add(s.cfg.KeepAliveTimeout))
		if s.closing.Load() {
			hc.stopBackgroundRead()
			return false
		}
		var err error
		if hc.bg != nil {
			<-hc.bg
			hc.bg, err = nil, hc.bgErr
		} else {
			_, err = hc.br.Peek(1)
		}
		hc.idle.Store(false)
		if err != nil || s.closing.Load() && hc.br.Buffered() == 0 {
			return false
		}
		hc.c.SetReadDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	}
	hc.lim.N = int64(s.cfg.MaxHeaderBytes)
	return true
}

// readHead reads and parses one request head, under max_header_bytes.
func (hc *httpConn) readHead() (*http.Request, http1.Framing, error) {
	n0, b0 := hc.lim.N, hc.br.Buffered()
	r, f, err := readRequest(hc.br, &hc.lim, hc.s.cfg.MaxHeaderBytes)
	// What the parse took: from the buffer, and what came into it.
	hc.headBytes = int64(b0) + (n0 - hc.lim.N) - int64(hc.br.Buffered())
	hc.lim.N = unlimited
	if err != nil {
		return r, f, err
	}
	hc.c.SetReadDeadline(time.Time{})
	r.RemoteAddr = hc.client.String()
	if tc, ok := hc.c.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		r.TLS = &cs
	}
	return r, f, nil
}

// refuseHead answers a head that cannot be served (400, 408, 414, 431,
// 501, 505) with its Proxy-Status and an access event, and the connection
// ends: where the next request would start is unknown. A client that
// sent nothing, or left, gets nothing.
func (hc *httpConn) refuseHead(r *http.Request, err error) {
	var te *tunnel.Error
	if !errors.As(err, &te) {
		cut := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if !cut && !isTimeout(err) || hc.headBytes <= 0 && hc.br.Buffered() == 0 {
			return // gone, or silent: nobody to answer
		}
		if isTimeout(err) {
			err = tunnel.Errorf(tunnel.RequestTimeout, "request head incomplete after handshake_timeout (%v)", hc.s.cfg.HandshakeTimeout)
		} else {
			err = tunnel.Errorf(tunnel.BadRequest, "request head cut short: the client closed its side before the blank line")
		}
	}
	proto := tunnel.ProtoHTTP
	rec := accesslog.Start(hc.s.sink, proto, hc.client)
	if r != nil {
		// The request line was read: the line says what was asked.
		rec.Method, rec.Target = r.Method, r.RequestURI
		if r.Method == http.MethodConnect {
			rec.Proto = tunnel.ProtoConnect
		} else if r.URL != nil && r.URL.IsAbs() {
			rec.Target, rec.URL = "", r.URL.Redacted()
		}
	}
	w := newResponse(hc, &http.Request{Method: http.MethodGet, ProtoMinor: 1, Close: true})
	fail(w, rec, err)
	w.finish()
	rec.Finish()
	netx.LingerClose(hc.c)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Bounds of what is read and dropped of a request body nobody forwarded
// (a refusal, a cache hit). A conn that ends with input unread lingers
// within netx.LingerClose's bound.
const (
	settleTime  = 2 * time.Second
	settleBytes = 1 << 20
)

// armRead bounds the next read of a request body by the idle timeout.
func (hc *httpConn) armRead() {
	if idle := hc.s.engine.IdleTimeout(); idle > 0 {
		hc.c.SetReadDeadline(time.Now().Add(idle))
	}
}

// armWrite bounds the next write to the client by the idle timeout: a
// client that stops reading is cut off, as a tunnel's is.
func (hc *httpConn) armWrite() {
	if idle := hc.s.engine.IdleTimeout(); idle > 0 {
		hc.c.SetWriteDeadline(time.Now().Add(idle))
	}
}

// sendContinue sends 100 Continue before a body the client holds back
// for it (RFC 9110 §10.1.1), once.
func (hc *httpConn) sendContinue() error {
	hc.wmu.Lock()
	defer hc.wmu.Unlock()
	if hc.sent100 || hc.finalHead {
		return nil
	}
	hc.sent100 = true
	hc.armWrite()
	hc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	return hc.bw.Flush()
}

// startBackgroundRead watches the client while its request is served
// and nothing else reads from it: a client that leaves cancels the
// request (and with it the origin's exchange); a pipelined next request
// stays in the buffer. The conn has no read deadline (readHead cleared
// it). After a forwarded response the same read goes on waiting for the
// next request (waitForRequest), so a request costs one wait on the
// client, not a read that finds nothing, a wake-up to stop it and another
// read that finds nothing (issue 19 item 2).
func (hc *httpConn) startBackgroundRead(cancel context.CancelCauseFunc) {
	hc.bg = make(chan struct{})
	hc.bgErr = nil
	hc.bgGone.Store(false)
	go func() {
		defer close(hc.bg)
		_, err := hc.br.Peek(1)
		if err != nil && !isTimeout(err) {
			hc.bgGone.Store(true)
			cancel(errClientGone)
		}
		hc.bgErr = err
	}()
}

// stopBackgroundRead ends the background read before the conn is read
// again (or handed to a tunnel).
func (hc *httpConn) stopBackgroundRead() {
	if hc.bg == nil {
		return
	}
	hc.c.SetReadDeadline(time.Unix(1, 0))
	<-hc.bg
	hc.bg = nil
	hc.c.SetReadDeadline(time.Time{})
}
