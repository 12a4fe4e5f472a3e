package front

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Handler serves one connection of its protocol. The conn arrives with the
// handshake read deadline already set. The handler calls end once when it
// is done with the conn: before ServeConn returns, or later from a
// goroutine of its own, so that a tunnel can relay on after the goroutine
// that ran its handshake (and grew its stack) has gone. Called deferred,
// end also recovers a panic on that goroutine.
type Handler interface {
	ServeConn(ctx context.Context, c net.Conn, end func())
}

// Refuser is implemented by a Handler that can turn a connection away
// politely (an HTTP 503, say) when the mux is over its connection limit.
type Refuser interface {
	Refuse(c net.Conn)
}

// Mux accepts on any number of listeners and dispatches each connection.
type Mux struct {
	HTTP             Handler
	SOCKS            Handler
	HandshakeTimeout time.Duration // read deadline until the handler clears it; default 10s
	MaxConns         int           // concurrent connections; 0 is unlimited
	Log              zerolog.Logger
	Observer         Observer // told of each connection (metrics); nil: none
	// BaseContext, if set, gives the context each connection accepted on
	// ln starts from (as http.Server.BaseContext), so front ends can tell
	// which listener a connection came in on; default Background.
	BaseContext func(ln net.Listener) context.Context
	// TLS, if set, gives the TLS server config of ln, nil for a plaintext
	// listener. On a TLS listener the proxy protocols are spoken inside
	// TLS (tls.go).
	TLS func(ln net.Listener) *tls.Config
	// TLSContext, if set, derives a connection's context from its finished
	// handshake (the client certificate's user, say).
	TLSContext func(ctx context.Context, ln net.Listener, cs tls.ConnectionState) context.Context

	active    atomic.Int64
	wg        sync.WaitGroup
	mu        sync.Mutex
	conns     map[net.Conn]context.CancelFunc
	listeners map[net.Listener]struct{}
	closed    bool
}

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("front: mux closed")

// Active reports the connections being served now.
func (m *Mux) Active() int64 { return m.active.Load() }

// Serve accepts on ln until Close, serving proto there.
func (m *Mux) Serve(ln net.Listener, proto Protocol) error {
	if !m.trackListener(ln) {
		ln.Close()
		return ErrClosed
	}
	base := context.Background()
	if m.BaseContext != nil {
		base = m.BaseContext(ln)
	}
	var tlsCfg *tls.Config
	if m.TLS != nil {
		tlsCfg = m.TLS(ln)
	}
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if m.isClosed() {
				return ErrClosed
			}
			// Out of fds or similar: wait a little and try again, as
			// net/http does, instead of spinning or giving up.
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				m.Log.Warn().Err(err).Dur("retry_in", backoff).Msg("accept")
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		ctx, cancel := context.WithCancel(base)
		if !m.trackConn(c, cancel) {
			cancel()
			c.Close()
			continue
		}
		go m.serveConn(ctx, ln, c, proto, tlsCfg)
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (m *Mux) serveConn(ctx context.Context, ln net.Listener, c net.Conn, proto Protocol, tlsCfg *tls.Config) {
	over := m.active.Add(1) > int64(m.MaxConns) && m.MaxConns > 0
	e := &connEnd{m: m, c: c, closed: func() {}}
	// A panic on this goroutine ends the conn (if the handler has not).
	defer e.recover()
	h, ctx, c2, proto, ok := m.prepare(ctx, ln, c, proto, tlsCfg, over)
	if !ok {
		e.finish()
		return
	}
	e.c2, e.closed = c2, m.observe(ln, proto)
	h.ServeConn(ctx, c2, e.end)
}

// connEnd is a conn's bookkeeping, done once: by the handler when it is
// done with the conn, or by serveConn if the handler panicked first.
type connEnd struct {
	m      *Mux
	c, c2  net.Conn // as accepted; as handed to the handler (nil before)
	closed func()   // tells the observer
	once   atomic.Bool
}

// end is what a handler calls: deferred, it also recovers a panic.
func (e *connEnd) end() {
	if v := recover(); v != nil {
		e.panicked(v)
	}
	e.finish()
}

// recover ends the conn if its goroutine panicked; deferred by serveConn.
func (e *connEnd) recover() {
	if v := recover(); v != nil {
		e.panicked(v)
		e.finish()
	}
}

// panicked logs a panic with its stack. Input must never panic ferry; if
// it does, that is a bug, and only this connection is dropped.
func (e *connEnd) panicked(v any) {
	e.m.Log.Error().Str("proxy_status", "proxy_internal_error").Str("client", e.c.RemoteAddr().String()).
		Str("panic", fmt.Sprint(v)).Str("stack", string(debug.Stack())).Msg("panic")
	e.c.Close()
}

// finish, the first time, closes the conn, untracks and uncounts it.
func (e *connEnd) finish() {
	if !e.once.CompareAndSwap(false, true) {
		return
	}
	if e.c2 != nil {
		e.c2.Close()
	}
	e.closed()
	m := e.m
	m.active.Add(-1)
	m.untrackConn(e.c)
	m.wg.Done()
}

// prepare sets the handshake deadline, completes a TLS listener's
// handshake, sniffs the protocol and picks its handler. It answers and
// closes what is not to be served (a failed sniff, a refusal over the
// limit), reporting ok false.
func (m *Mux) prepare(ctx context.Context, ln net.Listener, c net.Conn, proto Protocol, tlsCfg *tls.Config, over bool) (Handler, context.Context, net.Conn, Protocol, bool) {
	timeout := m.HandshakeTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	if tlsCfg != nil {
		var ok bool
		if ctx, c, ok = m.handshake(ctx, c, ln, tlsCfg, timeout); !ok {
			m.observe(ln, "")() // no proxy protocol was spoken
			return nil, ctx, c, proto, false
		}
	}
	if proto == Auto || proto == "" {
		b, pc, seen, err := peekByte(c)
		if err != nil {
			m.Log.Debug().Err(err).Str("client", c.RemoteAddr().String()).Msg("sniff")
			m.observe(ln, "")()
			c.Close()
			return nil, ctx, c, proto, false
		}
		c, proto = pc, classify(b)
		if seen != nil { // only for HTTP
			ctx = context.WithValue(ctx, seenKey{}, &seenBox{seen})
		}
	}
	h := m.HTTP
	if proto == SOCKS {
		h = m.SOCKS
	}
	if over || h == nil {
		defer m.observe(ln, proto)()
		if m.Observer != nil {
			m.Observer.Refused(ln, proto)
		}
		if r, ok := h.(Refuser); ok {
			r.Refuse(c)
		}
		m.Log.Warn().Str("client", c.RemoteAddr().String()).Int("max_conns", m.MaxConns).Msg("connection refused: over limit")
		lingerClose(c)
		return nil, ctx, c, proto, false
	}
	return h, ctx, c, proto, true
}

func (m *Mux) trackListener(ln net.Listener) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	if m.listeners == nil {
		m.listeners = map[net.Listener]struct{}{}
	}
	m.listeners[ln] = struct{}{}
	return true
}

func (m *Mux) trackConn(c net.Conn, cancel context.CancelFunc) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	if m.conns == nil {
		m.conns = map[net.Conn]context.CancelFunc{}
	}
	m.conns[c] = cancel
	m.wg.Add(1)
	return true
}

func (m *Mux) untrackConn(c net.Conn) {
	m.mu.Lock()
	cancel := m.conns[c]
	delete(m.conns, c)
	m.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (m *Mux) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// Close stops accepting on every listener; open connections go on.
func (m *Mux) Close() {
	m.mu.Lock()
	m.closed = true
	lns := m.listeners
	m.listeners = nil
	m.mu.Unlock()
	for ln := range lns {
		ln.Close()
	}
}

// Drain waits for open connections to finish until ctx ends, then cancels
// and closes the rest and waits for their goroutines. It reports whether
// every connection finished on its own.
func (m *Mux) Drain(ctx context.Context) bool {
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
	}
	m.mu.Lock()
	for c, cancel := range m.conns {
		cancel()
		c.Close()
	}
	m.mu.Unlock()
	<-done
	return false
}

// lingerClose closes a conn whose input was not read. Closing a socket
// with unread data sends RST, and a client that gets RST may drop the
// refusal it has not read yet; so send FIN first and discard what the
// client still sends until it closes (RFC 9112 §9.6), bounded by the
// handshake read deadline already set and by size.
func lingerClose(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		io.CopyN(io.Discard, c, 64<<10)
	}
	c.Close()
}
