package reverse

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/netx"
	"github.com/ferry-proxy/ferry/internal/proxyhdr"
	"github.com/ferry-proxy/ferry/tunnel"
)

// conn is one client connection on its way through a listener.
type conn struct {
	s      *Server
	l      *Listener
	sk     *socket
	c      net.Conn // what is served: the accepted *net.TCPConn, or TLS over it
	client netip.AddrPort
	dst    netip.AddrPort // what the client connected to (the PROXY header's, behind a balancer)
	rec    *accesslog.Record
	alpn   string // negotiated with the client when terminating

	// What finish undoes: held slots, the observer's count.
	closed  func()
	perIP   bool     // a max_conns_per_ip slot is held
	backend *Backend // counted active on it
	once    atomic.Bool
}

// serveConn runs one connection from accept until its relay starts, or to
// its access event when it is refused. A relay ends it on its own
// goroutines (tunnel.Start), so an idle connection keeps no handshake
// stack and can park.
func (s *Server) serveConn(ctx context.Context, sk *socket, c net.Conn) {
	l := s.table.Load().Listener(*sk.name.Load())
	if l == nil {
		c.Close()
		s.conns.Done(c)
		return // the listener was removed between accept and now
	}
	refused, closed := s.observe(l)
	peer := addrPort(c.RemoteAddr())
	cn := &conn{s: s, l: l, sk: sk, c: c, client: peer, dst: addrPort(c.LocalAddr()), closed: closed}
	cn.rec = accesslog.Start(s.sink, string(l.Mode), peer)
	cn.rec.Target = cn.dst.String()
	relaying := false
	defer func() {
		if !relaying {
			cn.finish(c)
		}
	}()

	if n := sk.active.Add(1); l.MaxConns > 0 && n > int64(l.MaxConns) {
		// Closed at once, without lingering: under a flood a slot held
		// for a polite close is what the cap is there to prevent.
		refused()
		cn.fail(tunnel.Errorf(tunnel.Overloaded, "listener %q has max_conns %d open", l.Name, l.MaxConns))
		return
	}
	// One deadline for everything the client must send before the relay,
	// so a silent or slow socket cannot hold a slot for long.
	c.SetDeadline(time.Now().Add(l.HandshakeTimeout))
	server, err := cn.serve(ctx)
	if err != nil {
		if tunnel.KindOf(err) == tunnel.Overloaded { // max_conns_per_ip
			refused()
		}
		if errors.Is(err, errSentNothing) {
			// Connected and closed (or reset) without a byte, a
			// balancer's health check: no request, no access line,
			// as on a forward listener.
			cn.rec.Drop()
		}
		cn.fail(err)
		cn.rec.Finish() // the event need not wait for the linger
		netx.LingerClose(c)
		return
	}
	cn.c.SetDeadline(time.Time{})
	cn.rec.Status = tunnel.OK.HTTPStatus()
	relaying = true
	tunnel.Start(ctx, cn.c, server, s.engine.IdleTimeout(), func(st tunnel.Stats, err error) {
		cn.rec.BytesUp, cn.rec.BytesDown, cn.rec.Err = st.Up, st.Down, err
		cn.finish(c)
	})
}

// release gives back the backend's and the client address's slots.
func (cn *conn) release() {
	if cn.backend != nil {
		cn.backend.active.Add(-1)
		cn.backend = nil
	}
	if cn.perIP {
		cn.sk.perIP.release(cn.client.Addr())
		cn.perIP = false
	}
}

// finish, once, writes the access event, gives back what the connection
// held and closes c (as accepted; the relay has closed what it served).
func (cn *conn) finish(c net.Conn) {
	if !cn.once.CompareAndSwap(false, true) {
		return
	}
	cn.release()
	cn.sk.active.Add(-1)
	cn.rec.Finish()
	cn.closed()
	c.Close()
	cn.s.conns.Done(c)
}

// serve reads what the client sends before the relay (PROXY header,
// ClientHello), routes and dials: it returns the backend conn to relay
// with cn.c, or why the connection is refused.
func (cn *conn) serve(ctx context.Context) (_ net.Conn, err error) {
	// A refused connection gives its slots back before the linger.
	defer func() {
		if err != nil {
			cn.release()
		}
	}()
	l := cn.l
	pk := newPeeker(cn.c)
	trusted := containsAny(l.ProxyProtocolFrom, cn.client.Addr())
	if trusted {
		h, err := readProxyHeader(pk)
		if err != nil {
			return nil, clientErr("PROXY header from %s: %w", cn.client, err)
		}
		if src, dst, ok := proxyhdr.Addrs(h); ok {
			cn.client, cn.dst = src, dst
			cn.rec.Client, cn.rec.Target = src, dst.String()
		}
	}
	if ok, rule := l.Guard.Check(cn.client.Addr()); !ok {
		return nil, &tunnel.Error{Kind: tunnel.Denied, Rule: rule, Err: fmt.Errorf("client %s refused by listener %q: %s", cn.client.Addr(), l.Name, rule)}
	}
	if !cn.sk.perIP.acquire(cn.client.Addr(), l.MaxConnsPerIP) {
		return nil, tunnel.Errorf(tunnel.Overloaded, "client %s has max_conns_per_ip %d open on listener %q", cn.client.Addr(), l.MaxConnsPerIP, l.Name)
	}
	cn.perIP = true

	r := l.def
	if l.Mode == ModeTLS {
		hello, err := peekHello(pk)
		if err != nil {
			return nil, cn.untrustedProxy(pk, trusted, err)
		}
		if hello.ServerName != "" {
			cn.rec.Target = net.JoinHostPort(hello.ServerName, strconv.Itoa(int(cn.dst.Port())))
		}
		r = l.Route(hello.ServerName)
		cn.s.log.Debug().Str("id", cn.rec.ID).Str("client", cn.client.String()).Str("sni", hello.ServerName).
			Strs("alpn", hello.ALPN).Bool("routed", r != nil).Msg("client hello")
		if r == nil {
			writeAlert(cn.c, alertUnrecognizedName)
			if hello.ServerName == "" {
				return nil, tunnel.Errorf(tunnel.NoRoute, "ClientHello without server name and no default route")
			}
			return nil, tunnel.Errorf(tunnel.NoRoute, "no route for server name %q", hello.ServerName)
		}
	}
	cn.rec.Route = r.Name
	if ok, rule := r.Guard.Check(cn.client.Addr()); !ok {
		return nil, &tunnel.Error{Kind: tunnel.Denied, Rule: rule, Err: fmt.Errorf("client %s refused by route %q: %s", cn.client.Addr(), r.Name, rule)}
	}
	cn.c = pk.Conn()
	if r.TLS == Terminate {
		tc := tls.Server(cn.c, r.serverTLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, clientErr("TLS handshake with client: %w", err)
		}
		cn.c = tc
		cn.alpn = tc.ConnectionState().NegotiatedProtocol
	}
	b, server, err := cn.dial(ctx, r)
	if err != nil {
		return nil, err
	}
	cn.backend = b
	if server, err = cn.prepareBackend(ctx, r, server); err != nil {
		server.Close()
		return nil, err
	}
	return server, nil
}

// untrustedProxy says so when what is not a ClientHello is a PROXY header
// from a peer not in proxy_protocol_from (a balancer left out of it, say),
// rather than only that it is not TLS; any other err is returned as it is.
func (cn *conn) untrustedProxy(pk *peeker, trusted bool, err error) error {
	if trusted || !errors.Is(err, ErrNotTLS) {
		return err
	}
	if b, _ := pk.Peek(recordHeaderLen); proxyhdr.Looks(b) { // already queued: no wait
		return clientErr("PROXY header from %s, which proxy_protocol_from does not list: not believed", cn.client.Addr())
	}
	return err
}

// errSentNothing is a client that closed or reset its connection before
// sending a byte (after its PROXY header, if any).
var errSentNothing = errors.New("the client sent nothing")

// peekHello peeks until the ClientHello is complete, never past the bound.
func peekHello(pk *peeker) (*ClientHello, error) {
	need := recordHeaderLen
	for {
		b, err := pk.Peek(need)
		if err != nil && len(b) < need {
			if len(b) == 0 && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
				err = fmt.Errorf("%w: %w", errSentNothing, err)
			}
			return nil, clientErr("reading ClientHello: %w", err)
		}
		h, err := ParseClientHello(b)
		var short *ShortError
		if !errors.As(err, &short) {
			if err != nil {
				return nil, clientErr("%w", err)
			}
			return h, nil
		}
		if short.Need <= len(b) || short.Need > MaxHelloPeek {
			return nil, clientErr("%w", ErrHelloTooBig) // cannot happen: the parser bounds Need
		}
		need = short.Need
	}
}

// dial picks a backend and connects through the engine (ACL, dial
// timeout), trying up to Retries further backends when a dial fails. A
// failed dial takes the backend down at once (passive health).
func (cn *conn) dial(ctx context.Context, r *Route) (*Backend, net.Conn, error) {
	var tried []*Backend
	var chosen *Backend
	var server net.Conn
	err := tunnel.Failover(ctx, "backend of route "+strconv.Quote(r.Name), cn.backends(r, &tried), backendAddress,
		func(b *Backend) (bool, error) {
			c, err := cn.dialBackend(ctx, r, b)
			if err != nil {
				return true, err
			}
			chosen, server = b, c
			return false, nil
		})
	switch {
	case errors.Is(err, tunnel.ErrNoCandidate) && len(tried) == 0:
		cn.rec.Upstream = ""
		return nil, nil, tunnel.Errorf(tunnel.Unavailable, "route %q: no healthy backend (%d of %d down)",
			r.Name, r.Pool.Down(), len(r.Pool.backends))
	case err != nil && len(tried) == 1:
		return nil, nil, fmt.Errorf("route %q: %w", r.Name, err)
	case err != nil:
		return nil, nil, err
	}
	return chosen, server, nil
}

// backends yields up to Retries+1 backends of r's pool, each picked among
// those not tried yet when the one before has failed.
func (cn *conn) backends(r *Route, tried *[]*Backend) iter.Seq[*Backend] {
	return func(yield func(*Backend) bool) {
		for range r.Retries + 1 {
			b := r.Pool.Pick(cn.client.Addr(), *tried)
			if b == nil {
				return
			}
			*tried = append(*tried, b)
			if !yield(b) {
				return
			}
		}
	}
}

// dialBackend authorizes and dials one backend; a failure that is the
// backend's takes it down (passive health).
func (cn *conn) dialBackend(ctx context.Context, r *Route, b *Backend) (net.Conn, error) {
	host, port, err := tunnel.SplitTarget(b.Address)
	if err != nil {
		return nil, err
	}
	req := &tunnel.Request{Proto: string(cn.l.Mode), Client: cn.client, Host: host, Port: port}
	cn.rec.Upstream = b.Address
	out, err := cn.s.engine.Authorize(ctx, req)
	cn.note(out)
	if err != nil {
		return nil, err
	}
	b.active.Add(1) // before the dial, so concurrent least_conn picks see it
	// Backends are the config's own, not targets clients name: dialed
	// directly whatever the routes say.
	server, out, err := cn.s.engine.Dial(ctx, req, tunnel.DirectPlan)
	cn.note(out)
	if err == nil && cn.s.isOwnListener(server.RemoteAddr()) {
		// Each connection would come back to ferry and dial again,
		// until the fds ran out.
		server.Close()
		err = tunnel.Errorf(tunnel.Loop, "backend %s is one of ferry's own reverse listeners", b.Address)
	}
	if err == nil {
		if b.markOK() {
			cn.s.healthChanged(cn.l)(r.Pool, b, nil)
		}
		return server, nil
	}
	b.active.Add(-1)
	if k := tunnel.KindOf(err); k != tunnel.Denied && k != tunnel.DeniedIP && ctx.Err() == nil {
		if b.markFailed(time.Now(), r.Pool.Health.FailTimeout) {
			cn.s.healthChanged(cn.l)(r.Pool, b, fmt.Errorf("passive: %w", err))
		}
	}
	return nil, err
}

// note copies the engine's verdict and dial into the record; the route
// and upstream there are the reverse route's and backend's, which the
// engine does not know.
func (cn *conn) note(out tunnel.Outcome) {
	route, upstream := cn.rec.Route, cn.rec.Upstream
	cn.rec.Note(out)
	cn.rec.Route, cn.rec.Upstream = route, upstream
}

// prepareBackend sends the PROXY header and starts TLS to the backend when
// the route asks for them, under the dial timeout's worth of deadline.
func (cn *conn) prepareBackend(ctx context.Context, r *Route, server net.Conn) (net.Conn, error) {
	if r.ProxyProtocol == 0 && r.backendTLS == nil {
		return server, nil
	}
	server.SetDeadline(time.Now().Add(cn.l.HandshakeTimeout))
	if r.ProxyProtocol != 0 {
		hdr, err := proxyHeader(r.ProxyProtocol, cn.client, cn.dst)
		if err != nil {
			return server, tunnel.Errorf(tunnel.Internal, "PROXY header: %v", err)
		}
		if _, err := server.Write(hdr); err != nil {
			return server, fmt.Errorf("sending PROXY header to %s: %w", cn.rec.Upstream, err)
		}
	}
	if r.backendTLS != nil {
		tc := tls.Client(server, forBackend(r.backendTLS, cn.rec.Upstream, cn.alpn))
		if err := tc.HandshakeContext(ctx); err != nil {
			return server, &tunnel.Error{Kind: tunnel.BadGateway, Err: fmt.Errorf("TLS handshake with backend %s: %w", cn.rec.Upstream, err)}
		}
		server = tc
	}
	server.SetDeadline(time.Time{})
	return server, nil
}

// fail records why the connection ends before (or instead of) a relay.
// There is no reply to send on a raw TCP or TLS stream: the client sees a
// close (after an alert for an unknown name); the log says why.
func (cn *conn) fail(err error) {
	cn.rec.Fail(tunnel.KindOf(err).HTTPStatus(), err)
}

// clientErr marks a failure of what the client sent (including sending
// nothing in time) as BadRequest: a client's timeout is not a gateway's.
func clientErr(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("%w (handshake_timeout)", err)
	}
	return &tunnel.Error{Kind: tunnel.BadRequest, Err: err}
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

func backendAddress(b *Backend) string { return b.Address }
