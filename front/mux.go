package front

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/internal/netx"
	"github.com/ferry-proxy/ferry/internal/proxyhdr"
	"github.com/rs/zerolog"
)

// Handler serves one connection of its protocol. The conn arrives with the
// handshake read deadline already set. seen is what the sniff looked at
// (nil when the listener serves one protocol and nothing was sniffed): the
// first bytes c will yield, still unread, so a handler can parse them
// without peeking again; it is only valid until ServeConn returns. The
// handler calls end once when it is done with the conn: before ServeConn
// returns, or later from a goroutine of its own, so that a tunnel can
// relay on after the goroutine that ran its handshake (and grew its stack)
// has gone. Called deferred, end also recovers a panic on that goroutine.
type Handler interface {
	ServeConn(ctx context.Context, c net.Conn, seen []byte, end func())
}

// Refuser is implemented by a Handler that can turn a connection away
// politely (an HTTP 503, say) when the mux is over its connection limit.
// ctx carries the client a PROXY header named (proxyhdr.ClientOf).
type Refuser interface {
	Refuse(ctx context.Context, c net.Conn)
}

// Mux accepts on any number of listeners and dispatches each connection.
type Mux struct {
	HTTP             Handler
	SOCKS            Handler
	HandshakeTimeout time.Duration // read deadline until the handler clears it; required (the engine's)
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
	// ProxyFrom, if set, gives the peers of ln (balancers) that must send
	// a PROXY v1/v2 header first; asked per connection, so a reload can
	// change it (proxyproto.go).
	ProxyFrom func(ln net.Listener) []netip.Prefix

	active atomic.Int64
	conns  netx.Tracker // accept loops, conns, drain; see tracker
	once   sync.Once
}

// ErrClosed is returned by Serve after Close.
var ErrClosed = netx.ErrClosed

// errNoDeadline is returned by Serve when HandshakeTimeout is not set:
// every client read needs a deadline.
var errNoDeadline = errors.New("front: Mux.HandshakeTimeout must be positive")

// Active reports the connections being served now, slots held (Hold)
// included.
func (m *Mux) Active() int64 { return m.active.Load() }

// Hold takes one of MaxConns' slots for what a connection opens besides
// itself: an HTTP/2 stream, which holds a connection to its target as a
// connection of its own would. It reports false, taking nothing, when the
// limit is reached; release gives the slot back, once.
func (m *Mux) Hold() (release func(), ok bool) {
	if m.active.Add(1) > int64(m.MaxConns) && m.MaxConns > 0 {
		m.active.Add(-1)
		return nil, false
	}
	var once sync.Once
	return func() { once.Do(func() { m.active.Add(-1) }) }, true
}

// tracker is m's connection tracker, its accept errors logged.
func (m *Mux) tracker() *netx.Tracker {
	m.once.Do(func() {
		m.conns.OnAcceptError = func(err error, retryIn time.Duration) {
			m.Log.Warn().Err(err).Dur("retry_in", retryIn).Msg("accept")
		}
	})
	return &m.conns
}

// Serve accepts on ln until Close, serving proto there.
func (m *Mux) Serve(ln net.Listener, proto Protocol) error {
	if m.HandshakeTimeout <= 0 {
		ln.Close()
		return errNoDeadline
	}
	base := context.Background()
	if m.BaseContext != nil {
		base = m.BaseContext(ln)
	}
	var tlsCfg *tls.Config
	if m.TLS != nil {
		tlsCfg = m.TLS(ln)
	}
	return m.tracker().Serve(ln, base, func(ctx context.Context, c net.Conn) {
		m.serveConn(ctx, ln, c, proto, tlsCfg)
	})
}

// Close stops accepting on every listener; open connections go on.
func (m *Mux) Close() { m.tracker().Close() }

// Drain waits for open connections to finish until ctx ends, then cancels
// and closes the rest and waits for their goroutines. It reports whether
// every connection finished on its own.
func (m *Mux) Drain(ctx context.Context) bool { return m.tracker().Drain(ctx) }

// serveConn sets the handshake deadline, completes a TLS listener's
// handshake, sniffs the protocol and hands the conn to its handler, or
// answers and closes what is not to be served (a failed sniff, a refusal
// over the limit).
func (m *Mux) serveConn(ctx context.Context, ln net.Listener, c net.Conn, proto Protocol, tlsCfg *tls.Config) {
	over := m.active.Add(1) > int64(m.MaxConns) && m.MaxConns > 0
	e := &connEnd{m: m, c: c, ctx: ctx, closed: func() {}}
	// A panic on this goroutine ends the conn (if the handler has not).
	defer e.recover()
	bp := sniffBufs.Get().(*[sniffPeek]byte)
	defer sniffBufs.Put(bp) // after ServeConn: seen is valid until it returns
	timeout := m.HandshakeTimeout
	if over {
		// Turned away at once, not after the handshake deadline: an
		// over-limit conn must not hold its fd while it says nothing
		// (issue 20 item 6).
		m.refuse(ctx, ln, c, proto, tlsCfg, bp[:])
		e.finish()
		return
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	if m.ProxyFrom != nil {
		var ok bool
		if ctx, c, ok = m.readProxy(ctx, ln, c); !ok {
			m.observe(ln, "")()
			e.finish()
			return
		}
		e.ctx = ctx
	}
	if tlsCfg != nil {
		var ok bool
		if ctx, c, ok = m.handshake(ctx, c, ln, tlsCfg, timeout, bp[:1]); !ok {
			m.observe(ln, "")() // no proxy protocol was spoken
			e.finish()
			return
		}
	}
	var seen []byte
	if isHTTP2(c) {
		// ALPN said h2: HTTP, and the handler reads the preface itself.
		proto = HTTP
	} else if proto == Auto || proto == "" {
		var err error
		if seen, c, err = netx.Peek(c, bp[:], sniffPeek, nil); err != nil {
			m.Log.Debug().Err(err).Str("client", proxyhdr.ClientOf(ctx, c).String()).Msg("sniff")
			m.observe(ln, "")()
			c.Close()
			e.finish()
			return
		}
		proto = classify(seen[0])
	}
	h := m.HTTP
	if proto == SOCKS {
		h = m.SOCKS
	}
	if h == nil {
		m.Log.Warn().Str("client", proxyhdr.ClientOf(ctx, c).String()).Str("protocol", string(proto)).Msg("connection refused: no handler")
		m.observe(ln, proto)()
		netx.LingerClose(c)
		e.finish()
		return
	}
	e.c2, e.closed = c, m.observe(ln, proto)
	h.ServeConn(ctx, c, seen, e.end)
}

// overLimitWait is how long an over-limit conn is given to show its first
// bytes, so that an HTTP client can be answered 503 in its protocol: most
// send their request with the handshake's last ACK.
const overLimitWait = 50 * time.Millisecond

// refuse turns c away over the connection limit, at once: what it sent
// within overLimitWait picks its handler's refusal (an HTTP 503, a SOCKS
// reply where one needs no login), then the conn
// is closed without lingering, its unread bytes dropped first so the
// close is a FIN. A TLS listener's conn is closed unanswered: answering
// would take a handshake. A balancer's PROXY header is read first, in
// the same wait, so the refusal names its client.
func (m *Mux) refuse(ctx context.Context, ln net.Listener, c net.Conn, proto Protocol, tlsCfg *tls.Config, buf []byte) {
	var refuser Refuser
	if proto == Auto {
		proto = "" // unknown until the client says something
	}
	c.SetReadDeadline(time.Now().Add(overLimitWait))
	if m.ProxyFrom != nil {
		var ok bool
		if ctx, c, ok = m.readProxy(ctx, ln, c); !ok {
			m.observe(ln, proto)()
			if m.Observer != nil {
				m.Observer.Refused(ln, string(proto))
			}
			return
		}
	}
	if tlsCfg == nil {
		if seen, pc, err := netx.Peek(c, buf, len(buf), nil); err == nil {
			c = pc
			if proto == "" {
				proto = classify(seen[0])
			}
			h := m.HTTP
			if proto == SOCKS {
				h = m.SOCKS
			}
			refuser, _ = h.(Refuser)
		}
	}
	defer m.observe(ln, proto)()
	if m.Observer != nil {
		m.Observer.Refused(ln, string(proto))
	}
	if refuser != nil {
		refuser.Refuse(ctx, c)
	}
	m.Log.Warn().Str("client", proxyhdr.ClientOf(ctx, c).String()).Int("max_conns", m.MaxConns).Msg("connection refused: over limit")
	netx.DiscardQueued(c)
	c.Close()
}

// connEnd is a conn's bookkeeping, done once: by the handler when it is
// done with the conn, or by serveConn if the handler panicked first.
type connEnd struct {
	m      *Mux
	c, c2  net.Conn        // as accepted; as handed to the handler (nil before)
	ctx    context.Context // the conn's, with the client a PROXY header named
	closed func()          // tells the observer
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
	e.m.Log.Error().Str("proxy_status", "proxy_internal_error").Str("client", proxyhdr.ClientOf(e.ctx, e.c).String()).
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
	e.m.active.Add(-1)
	e.m.conns.Done(e.c)
}
