package connect

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/cache"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
)

// Forwarded modes: what ferry tells origins about the client.
const (
	ForwardedOff   = "off"   // add nothing; pass on what the client sent (default)
	ForwardedAdd   = "add"   // append the client address to X-Forwarded-For and Forwarded
	ForwardedStrip = "strip" // remove Forwarded and X-Forwarded-* the client sent; add nothing
)

// Config holds the HTTP front end's settings.
type Config struct {
	HandshakeTimeout  time.Duration // reading a request head; default 10s
	KeepAliveTimeout  time.Duration // idle client connection between requests; default 60s
	MaxHeaderBytes    int           // request head size; larger gets 431; default 64 KiB
	Forwarded         string        // ForwardedOff, ForwardedAdd or ForwardedStrip
	ViaName           string        // pseudonym in Via; default "ferry"
	MaxIdleConns      int           // pooled origin connections in all; default 1024
	MaxIdlePerHost    int           // pooled origin connections per host; default 256
	ResponseTimeout   time.Duration // wait for an origin's response head; default the engine's idle timeout
	OriginIdleTimeout time.Duration // pooled origin connection idle; default 90s
	Cache             *cache.Cache  // shared cache for plain HTTP; nil: none
}

func (c *Config) setDefaults() {
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.KeepAliveTimeout <= 0 {
		c.KeepAliveTimeout = 60 * time.Second
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 64 << 10
	}
	if c.Forwarded == "" {
		c.Forwarded = ForwardedOff
	}
	if c.ViaName == "" {
		c.ViaName = "ferry"
	}
	if c.MaxIdleConns <= 0 {
		c.MaxIdleConns = 1024
	}
	if c.MaxIdlePerHost <= 0 {
		c.MaxIdlePerHost = 256
	}
	if c.OriginIdleTimeout <= 0 {
		c.OriginIdleTimeout = 90 * time.Second
	}
}

// Server is the HTTP proxy front end. It satisfies front.Handler.
type Server struct {
	cfg       Config
	engine    *tunnel.Engine
	sink      accesslog.Sink
	log       zerolog.Logger
	http      *http.Server
	transport *http.Transport   // direct to origins, requests with a body
	direct    *originClient     // direct to origins, bodiless requests (origin.go)
	upstreams sync.Map          // upstream key → *http.Transport through it (upstream.go)
	proxy     http.Handler      // ReverseProxy, for upgrades
	origin    http.RoundTripper // what requests are forwarded through (cache.go)
	via11     string            // Via value of an HTTP/1.1 message (forward.go)
	pages     sync.Map          // path → http.Handler: ferry's own pages (pages.go)
	ln        *connListener
	conns     sync.Map // net.Conn → *connEntry
	serveOnce sync.Once
	page      atomic.Pointer[BlockPage] // 403 page of denied requests
}

// New returns a Server dialing through engine and logging to sink.
func New(cfg Config, engine *tunnel.Engine, sink accesslog.Sink, logger zerolog.Logger) *Server {
	cfg.setDefaults()
	if cfg.ResponseTimeout <= 0 {
		// An origin that accepts and never answers would hold the client
		// forever, where a tunnel to it is cut at the idle timeout: wait
		// for the response head as long as a tunnel may idle (0: ever).
		cfg.ResponseTimeout = engine.IdleTimeout()
	}
	s := &Server{cfg: cfg, engine: engine, sink: sink, log: logger, ln: newConnListener()}
	s.SetBlockPage(nil)
	s.transport = s.newTransport()
	s.direct = &originClient{dial: s.dialOrigin, maxIdle: cfg.MaxIdleConns, maxIdlePerHost: cfg.MaxIdlePerHost,
		idleTimeout: cfg.OriginIdleTimeout, responseTimeout: cfg.ResponseTimeout}
	s.origin = s.originTransport()
	s.via11 = "1.1 " + cfg.ViaName
	s.proxy = s.newReverseProxy()
	s.http = &http.Server{
		Handler:                      http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout:            cfg.HandshakeTimeout,
		IdleTimeout:                  cfg.KeepAliveTimeout,
		MaxHeaderBytes:               netHTTPHeaderLimit(cfg.MaxHeaderBytes),
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     log.New(serverErrors{logger}, "", 0),
		ConnContext:                  s.connContext,
		ConnState:                    s.connState,
	}
	return s
}

// netHTTPHeaderLimit is the http.Server.MaxHeaderBytes that bounds a head
// net/http reads (a request after the first on a keep-alive connection,
// or a first head longer than the fast path peeks) by limit as nearly as it
// allows without refusing a head within it. net/http stops reading a head
// at MaxHeaderBytes + 4096 bytes (and takes 0 or less for its 1 MiB
// default), not counting what it read ahead while waiting for the request
// (up to its 4 KiB buffer). So a first head net/http reads is bounded
// exactly (limit above 4096; 4097 bytes below), a later one within limit
// + 4096. The first head of a connection is checked exactly by the fast
// path (fast.go).
func netHTTPHeaderLimit(limit int) int {
	return max(limit-4096, 1)
}

// serverErrors sends net/http's own error log (TLS handshake errors,
// recovered handler panics) to zerolog; a panic there is a ferry bug.
type serverErrors struct{ log zerolog.Logger }

func (w serverErrors) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if strings.Contains(msg, "panic") {
		w.log.Error().Str("proxy_status", "proxy_internal_error").Str("err", msg).Msg("panic")
	} else {
		w.log.Debug().Str("err", msg).Msg("http server")
	}
	return len(p), nil
}

// connEntry tracks one client connection while net/http serves it: its
// mux context (drain cancels it) and the mux's end, called once net/http,
// or a handler that took the conn over, is done with it.
type connEntry struct {
	s        *Server
	c        net.Conn
	ctx      context.Context
	end      func()
	hijacked atomic.Bool
	done     atomic.Bool // finish has run
}

// finish ends the conn for the mux (which closes it), once.
func (e *connEntry) finish() {
	if !e.done.CompareAndSwap(false, true) {
		return
	}
	e.s.conns.Delete(e.c)
	e.end()
}

type entryKey struct{}

// ServeConn serves HTTP on c until the client is done with it: a CONNECT
// as its first request here (fast.go), the rest through net/http. It calls
// end when done with c; a fast-path tunnel calls it when the tunnel ends,
// from the relay's goroutines, and ServeConn returns as the relay starts.
func (s *Server) ServeConn(ctx context.Context, c net.Conn, end func()) {
	if tc, ok := c.(*net.TCPConn); ok {
		t, handOff := s.serveFast(ctx, tc)
		if t != nil {
			t.start(ctx, end)
			return
		}
		if !handOff {
			end()
			return
		}
	}
	s.serveNetHTTP(ctx, c, end)
}

// serveNetHTTP hands c to net/http and returns: no goroutine waits for
// the conn (the mux's one, with the stack a TLS handshake grew, ends
// here). end is called when net/http closes c (StateClosed), or when a
// handler that took c over is done with it (finishHijacked, a tunnel's
// end); when ctx ends first (drain), c is cut.
func (s *Server) serveNetHTTP(ctx context.Context, c net.Conn, end func()) {
	s.serveOnce.Do(func() { go s.http.Serve(s.ln) })
	e := &connEntry{s: s, c: c, ctx: ctx, end: end}
	s.conns.Store(c, e)
	// Left registered after a normal end: the mux cancels ctx then, and
	// cut finds the conn done.
	context.AfterFunc(ctx, e.cut)
	if !s.ln.push(ctx, c) {
		e.finish()
	}
}

// cut ends a conn the mux gave up on (drain past its grace): closing it
// makes whoever serves it (net/http's handler, a tunnel's relay) stop and
// write its access event before it calls finish; if none does within a
// second, finish is called anyway, so a drain always ends.
func (e *connEntry) cut() {
	if e.done.Load() {
		return
	}
	e.c.Close()
	time.AfterFunc(time.Second, e.finish)
}

func (s *Server) connContext(ctx context.Context, c net.Conn) context.Context {
	v, ok := s.conns.Load(c)
	if !ok {
		return ctx
	}
	e := v.(*connEntry)
	// The request context ends when ferry drains (the mux's conn context)
	// as well as when net/http is done with the request.
	ctx, cancel := context.WithCancel(context.WithValue(ctx, entryKey{}, e))
	ctx = tunnel.WithListener(ctx, tunnel.ListenerOf(e.ctx))
	ctx = tunnel.WithCertUser(ctx, tunnel.CertUserOf(e.ctx))
	context.AfterFunc(e.ctx, cancel)
	return ctx
}

func (s *Server) connState(c net.Conn, st http.ConnState) {
	if st != http.StateHijacked && st != http.StateClosed {
		return // active and idle, twice a request: no lookup
	}
	v, ok := s.conns.Load(c)
	if !ok {
		return
	}
	e := v.(*connEntry)
	switch st {
	case http.StateHijacked:
		e.hijacked.Store(true)
	case http.StateClosed:
		e.finish()
	}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodConnect:
		if !s.serveConnect(w, r) {
			finishHijacked(r)
		}
	case r.URL.IsAbs():
		if upgradeType(r.Header) != "" {
			// Only CONNECT and upgrades hijack: a plain forward skips
			// the context walk.
			defer finishHijacked(r)
		}
		s.serveForward(w, r)
	default:
		defer finishHijacked(r)
		s.serveSelf(w, r)
	}
}

// finishHijacked ends ServeConn's wait for a conn net/http handed over to a
// handler, which is done with it now.
func finishHijacked(r *http.Request) {
	if e, ok := r.Context().Value(entryKey{}).(*connEntry); ok && e.hijacked.Load() {
		e.finish()
	}
}

// Shutdown closes idle keep-alive connections and stops the HTTP server;
// tunnels are left to the mux's drain.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	s.transport.CloseIdleConnections()
	s.direct.CloseIdleConnections()
	s.closeUpstreamTransports()
	return err
}

// Refuse answers a connection over the limit with 503 and closes it.
func (s *Server) Refuse(c net.Conn) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	k := tunnel.Overloaded
	// An access event too, so the refusals show where the requests do
	// (the request itself is not read: no method, no target).
	client, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	rec := accesslog.Start(s.sink, tunnel.ProtoHTTP, client)
	rec.Fail(k.HTTPStatus(), tunnel.Errorf(k, "over max_conns"))
	rec.Finish()
	const body = "ferry: too many connections, try again later\n"
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"+
		"Proxy-Status: %s\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		k.HTTPStatus(), http.StatusText(k.HTTPStatus()), proxyStatus(k.ProxyStatus(), "connection limit"), len(body), body)
}

func clientAddr(r *http.Request) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	return ap
}

// connListener is the net.Listener net/http serves: the mux pushes
// sniffed connections into it.
type connListener struct {
	ch        chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

func newConnListener() *connListener {
	return &connListener{ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *connListener) push(ctx context.Context, c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.closed:
	case <-ctx.Done():
	}
	c.Close()
	return false
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *connListener) Addr() net.Addr { return &net.TCPAddr{} }

var errNoRequest = errors.New("connect: no request in dial context")
