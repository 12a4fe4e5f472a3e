package connect

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/netx"
	"github.com/ferry-proxy/ferry/internal/proxyhdr"
	"github.com/ferry-proxy/ferry/tunnel"
	// Extended CONNECT (RFC 8441), before x/net/http2 initializes.
	_ "github.com/ferry-proxy/ferry/internal/h2xconnect"
	"github.com/rs/zerolog"
	"golang.org/x/net/http2"
)

// HTTP/2 from clients (RFC 9113): a client that chose h2 by ALPN on a TLS
// listener (front.Mux hands it over unsniffed) is served by x/net's HTTP/2
// server, hardened by its bounds (h2Gen), and each stream is one request
// served as an HTTP/1.1 one is: a CONNECT is a tunnel on the stream
// (h2tunnel.go), any other request is forwarded (h2forward.go), every one
// through the same credentials check, ACL, routing and access log, whose
// line says http_version h2.

// h2Gen is one generation of the HTTP/2 server: x/net's server and the
// net/http one that holds its settings and, shut down, sends GOAWAY on
// every connection it serves (RFC 9113 §6.8). Reloads and the drain end a
// generation; connections accepted later get the next.
type h2Gen struct {
	hs      *http.Server
	srv     *http2.Server
	retired atomic.Bool // GoAway ended it: a connection that joined late is sent GOAWAY at its next stream
}

// newH2Gen builds a generation from the config. x/net's server keeps
// its hardening whatever is set here: at most 4×max_concurrent_streams
// handlers queued before a connection is refused with ENHANCE_YOUR_CALM
// (rapid reset, CVE-2023-44487), a header block bounded as it is read,
// CONTINUATION frames included (CVE-2024-27316 class), control frames
// queued for a client that does not read bounded, and flow-control
// violations answered with FLOW_CONTROL_ERROR.
func (s *Server) newH2Gen() *h2Gen {
	c := s.cfg.HTTP2
	hs := &http.Server{
		// A connection with no stream open this long is closed (GOAWAY).
		IdleTimeout: s.cfg.KeepAliveTimeout,
		// SETTINGS_MAX_HEADER_LIST_SIZE: a larger list gets 431.
		MaxHeaderBytes: s.cfg.MaxHeaderBytes,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          c.MaxConcurrentStreams,
			MaxReadFrameSize:              h2FrameSize,
			MaxReceiveBufferPerConnection: c.ConnWindow,
			MaxReceiveBufferPerStream:     c.StreamWindow,
			// A client that stops reading the connection itself is
			// cut off as an HTTP/1.1 one is (armWrite).
			WriteByteTimeout: s.engine.IdleTimeout(),
		},
		ErrorLog: log.New(h2Log{s.log}, "", 0),
	}
	srv := &http2.Server{}
	if err := http2.ConfigureServer(hs, srv); err != nil {
		// Only a TLS config's cipher suites can fail it, and hs has none.
		panic(fmt.Sprintf("connect: http2.ConfigureServer: %v", err))
	}
	return &h2Gen{hs: hs, srv: srv}
}

// h2Log takes x/net's log lines (a connection's protocol error, say) to
// the debug log: a client's bad frames are its own business.
type h2Log struct{ log zerolog.Logger }

func (l h2Log) Write(p []byte) (int, error) {
	l.log.Debug().Bytes("detail", p).Msg("http2")
	return len(p), nil
}

// serveH2 serves an HTTP/2 connection until it ends: its streams run on
// goroutines of x/net's server, the connection's frames on this one.
func (s *Server) serveH2(ctx context.Context, c *tls.Conn, end func()) {
	defer end()
	// The connection's own context, cancelled when it ends: its streams'
	// tunnels run on it (not on their streams', which end when a
	// half-close returns the handler), and one whose client has ended its
	// side has nothing else to tell it the connection is gone. The one
	// the listener's conns share (netx.Tracker) ends only at a drain.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// x/net bounds the wait for the client's preface itself (10s), then
	// the connection is its: it reads without a deadline and closes it
	// after IdleTimeout without streams.
	c.SetReadDeadline(time.Time{})
	// Behind a balancer the client is the one its PROXY header named.
	gen := s.h2.Load()
	h := &h2Conn{s: s, ctx: ctx, c: c, client: proxyhdr.ClientOf(ctx, c), gen: gen}
	var served h2Net = c
	if b, ok := c.NetConn().(*netx.RecordBatcher); ok {
		served = netx.NewBatchedTLS(c, b) // front.Mux made it so
	}
	h.conn = served
	// Closed through what x/net serves: a raw tls.Conn's Close would wait
	// behind a batched write blocked on a client that does not read.
	defer h.conn.Close()
	gen.srv.ServeConn(newH2Guard(served, h.flooded), &http2.ServeConnOpts{Context: ctx, BaseConfig: gen.hs, Handler: h})
}

// flooded logs a connection h2Guard cuts.
func (h *h2Conn) flooded() {
	h.s.log.Warn().Str("client", h.client.String()).Int("burst", h2IdleBurst).Int("per_second", h2IdleRate).
		Msg("http2: closing a connection that floods ferry with frames that carry nothing (PING, SETTINGS, PRIORITY, empty DATA or headers)")
}

// GoAway ends the current HTTP/2 generation: each of its connections is
// sent GOAWAY and closes once its streams are done, so that clients open
// new connections for new requests (under a reload's TLS material). It
// returns at once.
func (s *Server) GoAway() {
	old := s.h2.Swap(s.newH2Gen())
	old.retired.Store(true)
	go old.hs.Shutdown(context.Background())
}

// h2Conn is one HTTP/2 client connection: the http.Handler of its
// streams.
type h2Conn struct {
	s      *Server
	ctx    context.Context // the connection's: its end and a drain cancel it
	c      *tls.Conn
	conn   net.Conn // what x/net serves: c, or c with batched writes; close this one
	client netip.AddrPort
	gen    *h2Gen

	streams atomic.Int64 // streams served
	resets  atomic.Int64 // of which the client reset before their answer
}

// Premature resets (rapid reset, CVE-2023-44487): a client that opens
// streams and resets them before they are answered makes ferry dial for
// each and pay nothing itself. x/net bounds how many handlers run at once;
// this bounds how many such streams a connection may have in all, as
// Envoy's overload manager does: past maxResets, when they are most of
// its streams, the connection is closed.
const maxResets = 100

// resetEarly counts a stream the client reset before its answer, and
// closes the connection once that is its habit.
func (h *h2Conn) resetEarly() {
	n := h.resets.Add(1)
	if n >= maxResets && 2*n > h.streams.Load() {
		h.s.log.Warn().Str("client", h.client.String()).Int64("resets", n).Int64("streams", h.streams.Load()).
			Msg("http2: closing a connection that resets most of its streams before their answer")
		h.conn.Close()
	}
}

// ServeHTTP serves one stream: a CONNECT tunnel, an extended CONNECT
// (RFC 8441 §4), a request for ferry itself, or a request to forward.
func (h *h2Conn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer h.recover(w)
	h.streams.Add(1)
	if why := h2Malformed(r); why != "" {
		h.refuseMalformed(w, r, why)
		return
	}
	if h.gen.retired.Load() {
		// Served by a generation GoAway ended after this connection
		// loaded it but before x/net counted it among the ones to send
		// GOAWAY: x/net sends it when a response says close.
		w.Header().Set("Connection", "close")
	}
	var slot func() // the stream's max_conns slot; a tunnel keeps it until it ends
	if hold := h.s.hold; hold != nil {
		release, ok := hold()
		if !ok {
			h.refuseOverLimit(w, r)
			return
		}
		slot = release
		defer func() {
			if slot != nil {
				slot()
			}
		}()
	}
	switch {
	case r.Method == http.MethodConnect && r.Header.Get(":protocol") == "":
		h.serveConnect(w, r, &slot)
	case r.Method == http.MethodConnect:
		h.serveExtendedConnect(w, r, &slot)
	case h.isSelf(r):
		h.s.serveSelf(w, r)
	default:
		h.serveForward(w, r)
	}
}

// recover logs a panic on a stream's goroutine as the front mux does for
// a connection's (a bug: input must never panic ferry) and resets the
// stream; the connection's other streams go on.
func (h *h2Conn) recover(w http.ResponseWriter) {
	v := recover()
	if v == nil {
		return
	}
	if v != http.ErrAbortHandler {
		h.s.log.Error().Str("proxy_status", "proxy_internal_error").Str("client", h.client.String()).
			Str("panic", fmt.Sprint(v)).Str("stack", string(debug.Stack())).Msg("panic")
	}
	panic(http.ErrAbortHandler) // x/net resets the stream, quietly
}

// isSelf reports whether r is addressed to ferry itself: its authority is
// the address the client reached, or the name it asked TLS for with that
// port. Those requests get ferry's own pages; forwarding them would loop.
func (h *h2Conn) isSelf(r *http.Request) bool {
	local, ok := h.c.LocalAddr().(*net.TCPAddr)
	if !ok {
		return false
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil || port != strconv.Itoa(local.Port) {
		return false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap() == local.AddrPort().Addr().Unmap()
	}
	return host == h.c.ConnectionState().ServerName
}

// refuseOverLimit answers a stream over the connection limit as an
// HTTP/1.1 connection over it is answered: 503 with Retry-After.
func (h *h2Conn) refuseOverLimit(w http.ResponseWriter, r *http.Request) {
	proto := tunnel.ProtoHTTP
	if r.Method == http.MethodConnect {
		proto = tunnel.ProtoConnect
	}
	rec := accesslog.Start(h.s.sink, proto, h.client)
	defer rec.Finish()
	rec.Version, rec.Method, rec.Target = versionH2, r.Method, r.Host
	w.Header().Set("Retry-After", "1")
	fail(w, rec, tunnel.Errorf(tunnel.Overloaded, "over max_conns (each HTTP/2 stream counts as a connection)"))
}
