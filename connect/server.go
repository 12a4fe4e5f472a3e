package connect

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/connect/forward"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/proxyhdr"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
	"golang.org/x/net/http2"
)

// Server is the HTTP proxy front end. It satisfies front.Handler.
type Server struct {
	cfg     Config
	engine  *tunnel.Engine
	fwd     *forward.Forwarder
	sink    accesslog.Sink
	log     zerolog.Logger
	pages   sync.Map // path → http.Handler: ferry's own pages (pages.go)
	page    atomic.Pointer[BlockPage]
	conns   sync.Map // *httpConn → struct{}: the conns the HTTP/1 reader serves
	closing atomic.Bool
	h2      atomic.Pointer[h2Gen] // the HTTP/2 server of new connections (h2.go)
	hold    func() (release func(), ok bool)
}

// SetSlots gives the server the front listener's connection limit
// (front.Mux.Hold): each HTTP/2 stream takes a slot, as the connection to
// its target would if it had come on a connection of its own. Nil: none.
func (s *Server) SetSlots(hold func() (release func(), ok bool)) { s.hold = hold }

// New returns a Server dialing through engine and logging to sink.
func New(cfg Config, engine *tunnel.Engine, sink accesslog.Sink, logger zerolog.Logger) *Server {
	cfg.setDefaults()
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = engine.HandshakeTimeout()
	}
	s := &Server{cfg: cfg, engine: engine, sink: sink, log: logger}
	s.fwd = forward.New(cfg.Forward, engine)
	s.SetBlockPage(nil)
	s.h2.Store(s.newH2Gen())
	return s
}

// ServeConn serves HTTP on c until the client is done with it: a CONNECT
// as its first request on the fast path (fast.go), everything else with
// ferry's HTTP/1 reader (conn.go). seen is what the front mux's sniff
// peeked of c (the fast path scans it instead of peeking again). It calls
// end when done with c; a tunnel calls it when the tunnel ends, from the
// relay's goroutines, and ServeConn returns as the relay starts.
func (s *Server) ServeConn(ctx context.Context, c net.Conn, seen []byte, end func()) {
	if tc, ok := c.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol == http2.NextProtoTLS {
		s.serveH2(ctx, tc, end)
		return
	}
	if _, ok := c.(*net.TCPConn); ok {
		t, rest := s.serveFast(ctx, c, seen)
		if t != nil {
			t.start(ctx, end)
			return
		}
		if rest == nil {
			end()
			return
		}
		c = rest
	}
	s.serveHTTP1(ctx, c, end)
}

// Shutdown closes the keep-alive connections waiting for a request and
// makes the others close after their current response; HTTP/2 ones are
// sent GOAWAY and close when their streams are done; tunnels are left to
// the mux's drain.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	go s.h2.Load().hs.Shutdown(ctx)
	s.conns.Range(func(k, _ any) bool {
		if hc := k.(*httpConn); hc.idle.Load() {
			hc.c.SetReadDeadline(time.Unix(1, 0))
		}
		return true
	})
	s.fwd.Close()
	return nil
}

// Refuse answers a connection over the limit with 503 and closes it.
func (s *Server) Refuse(ctx context.Context, c net.Conn) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	k := tunnel.Overloaded
	// An access event too, so the refusals show where the requests do
	// (the request itself is not read: no method, no target).
	rec := accesslog.Start(s.sink, tunnel.ProtoHTTP, proxyhdr.ClientOf(ctx, c))
	rec.Fail(k.HTTPStatus(), tunnel.Errorf(k, "over max_conns"))
	rec.Finish()
	const body = "ferry: too many connections, try again later\n"
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"+
		"Proxy-Status: %s\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		k.HTTPStatus(), http.StatusText(k.HTTPStatus()), tunnel.ProxyStatusMember(k.ProxyStatus(), "connection limit"), len(body), body)
}

func clientAddr(r *http.Request) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	return ap
}
