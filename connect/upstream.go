package connect

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
)

// Plain HTTP through upstreams. A request whose route goes through an
// HTTP(S) upstream is forwarded to it in absolute form over pooled
// keep-alive connections (not tunneled), by one http.Transport per
// upstream whose Proxy is the upstream and whose dialer reaches it
// (TCP, the via chain, TLS). Through a SOCKS upstream the origin is
// dialed through it. The cache stays in front of all of them.

// routeTransport sends a plain-HTTP request the way its plan says.
type routeTransport struct{ s *Server }

func (t routeTransport) RoundTrip(r *http.Request) (*http.Response, error) { return t.s.roundTrip(r) }

// attempt is one try of a request through an upstream: its dial records
// a failure, which proves that nothing of the request was sent.
type attempt struct {
	mu      sync.Mutex
	dialErr error
}

type attemptKey struct{}

func noteDial(ctx context.Context, err error) {
	if a, ok := ctx.Value(attemptKey{}).(*attempt); ok && err != nil {
		a.mu.Lock()
		a.dialErr = err
		a.mu.Unlock()
	}
}

func (a *attempt) err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dialErr
}

// keepOpen lets a request body survive a failed attempt: http.Transport
// closes the body it was given even when the dial failed, before reading
// any of it. ReverseProxy closes the real one.
type keepOpen struct{ io.ReadCloser }

func (keepOpen) Close() error { return nil }

// roundTrip tries the plan's upstreams in order (tunnel.Failover). The
// next one is tried when the last failed before any of its answer reached
// the client: its dial failed (nothing was sent), or, for a request
// without a body, the upstream refused ferry's credentials (407) or
// dropped the request without answering. The client gets the answer of
// the last try.
func (s *Server) roundTrip(r *http.Request) (*http.Response, error) {
	fw, _ := r.Context().Value(forwardKey{}).(*forward)
	if fw == nil || fw.plan == nil || fw.plan.Direct() {
		if usesOriginClient(r) {
			return s.direct.RoundTrip(r)
		}
		return s.transport.RoundTrip(r)
	}
	if err := fw.plan.Down(); err != nil {
		return nil, err
	}
	var resp *http.Response
	err := tunnel.Failover(r.Context(), "upstream of "+fw.plan.Via, slices.Values(fw.plan.Hops()), (*tunnel.Upstream).Name,
		func(u *tunnel.Upstream) (retry bool, err error) {
			fw.note(tunnel.Outcome{Upstream: u.Name()})
			resp, retry, err = s.tryUpstream(r, u)
			return retry, err
		})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// tryUpstream sends r through u, and says whether a failure may be
// retried on the next upstream.
func (s *Server) tryUpstream(r *http.Request, u *tunnel.Upstream) (*http.Response, bool, error) {
	bodyless := r.Body == nil || r.Body == http.NoBody
	a := &attempt{}
	out := r.WithContext(context.WithValue(r.Context(), attemptKey{}, a))
	if !bodyless {
		out.Body = keepOpen{r.Body}
	}
	resp, err := s.upstreamTransport(u).RoundTrip(out)
	switch {
	case err == nil && resp.StatusCode == http.StatusProxyAuthRequired && u.IsHTTP():
		resp.Body.Close()
		return nil, bodyless, u.Fault(&tunnel.Error{Kind: tunnel.UpstreamAuth, NextHop: u.Name(), Received: http.StatusProxyAuthRequired,
			Err: fmt.Errorf("upstream %s refused ferry's credentials (407); check the user info in its url", u.Name())})
	case err == nil:
		if u.IsHTTP() {
			u.Succeeded()
		}
		return resp, false, nil
	case r.Context().Err() != nil:
		return nil, false, err
	case a.err() != nil:
		return nil, tunnel.IsUpstreamFault(a.err()), a.err()
	case u.IsHTTP():
		// Connected, but no answer: an HTTP upstream answers even
		// when the origin fails, so this is the upstream's fault.
		return nil, bodyless, u.Fault(&tunnel.Error{Kind: tunnel.UpstreamFailed, NextHop: u.Name(),
			Err: fmt.Errorf("upstream %s: no answer: %w", u.Name(), err)})
	}
	return nil, false, err
}

// upstreamTransport is the pooled transport through u, one per upstream
// key, so an upstream a reload keeps keeps its idle conns too.
func (s *Server) upstreamTransport(u *tunnel.Upstream) *http.Transport {
	if t, ok := s.upstreams.Load(u.Key()); ok {
		return t.(*http.Transport)
	}
	t := s.newTransport()
	if u.IsHTTP() {
		// net/http writes absolute-form requests and Proxy-Authorization
		// (from the URL's user info) on the conn DialParent gives it,
		// which for an https upstream is TLS already.
		proxyURL := u.ProxyURL()
		t.Proxy = func(*http.Request) (*url.URL, error) { return proxyURL, nil }
		t.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			start := time.Now()
			c, err := u.DialParent(ctx)
			noteDial(ctx, err)
			if fw, ok := ctx.Value(forwardKey{}).(*forward); ok {
				fw.note(tunnel.Outcome{Dial: time.Since(start)})
			}
			if err != nil {
				return nil, err
			}
			return &viaConn{Conn: c, addr: viaAddr{name: u.Name(), parent: c.RemoteAddr()}}, nil
		}
	} else {
		t.DialContext = func(ctx context.Context, _, addr string) (net.Conn, error) { return s.dialThrough(ctx, u, addr) }
	}
	actual, _ := s.upstreams.LoadOrStore(u.Key(), t)
	return actual.(*http.Transport)
}

// dialThrough dials an origin through a SOCKS upstream, with the ACL and
// name resolution the engine applies to tunnels through it.
func (s *Server) dialThrough(ctx context.Context, u *tunnel.Upstream, addr string) (net.Conn, error) {
	fw, ok := ctx.Value(forwardKey{}).(*forward)
	if !ok {
		return nil, tunnel.Errorf(tunnel.Internal, "dial %s: no request in context", addr)
	}
	host, port, err := tunnel.SplitTarget(addr)
	if err != nil {
		return nil, err
	}
	d := *fw.req
	d.Host, d.Port = host, port
	c, out, err := s.engine.DialUpstream(ctx, &d, u)
	noteDial(ctx, err)
	out.Dialed = "" // gotConn notes the upstream's address
	fw.note(out)
	if err != nil {
		return nil, err
	}
	return &viaConn{Conn: c, addr: viaAddr{name: u.Name(), parent: c.RemoteAddr()}}, nil
}

func (s *Server) closeUpstreamTransports() {
	s.upstreams.Range(func(_, t any) bool {
		t.(*http.Transport).CloseIdleConnections()
		return true
	})
}

// viaAddr is the remote address of a conn through an upstream. Its String
// is not an address, so that neither the cache (which records where a
// response came from) nor the ACL check of a reused conn takes the
// upstream's address for the origin's.
type viaAddr struct {
	name   string
	parent net.Addr
}

func (a viaAddr) Network() string { return "upstream" }
func (a viaAddr) String() string  { return "upstream " + a.name }

// viaConn is a conn through an upstream, with a viaAddr.
type viaConn struct {
	net.Conn
	addr viaAddr
}

func (c *viaConn) RemoteAddr() net.Addr { return c.addr }
