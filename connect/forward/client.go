package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
)

// Client is the one outbound path of plain HTTP: an http.RoundTripper
// (the cache's Next) that sends a request where its route says, through
// the engine: to the origin directly, in absolute form through an HTTP(S)
// upstream, or to the origin through a SOCKS upstream, trying a group's
// upstreams in turn (tunnel.Failover). Conns are pooled by where they go.
// Every way out follows the same rules: a conn whose last response had
// any framing doubt is never reused, an idle conn is checked before reuse,
// and a request that got no byte of answer on a reused conn is sent once
// more on a fresh one when that is safe (replayable).
type Client struct {
	engine          *tunnel.Engine
	pool            pool
	responseTimeout time.Duration
	idle            time.Duration // a response body that stops moving this long is cut
}

// route is a request's way out, which the Forwarder puts in its context
// for the Client (under the cache, which passes the context on).
type route struct {
	req    *tunnel.Request
	plan   *tunnel.Plan
	rec    *accesslog.Record // for the cache's report; guarded by mu
	got1xx func(code, major, minor int, h textproto.MIMEHeader)

	mu       sync.Mutex
	out      tunnel.Outcome // the dials' and reused conns' outcomes, joined
	interims int            // the interim responses received, on every try
	failed   error          // why the upstream's 5xx answer failed, as it said (tunnel.Upstream.AnswerError)
}

func (rt *route) note(o tunnel.Outcome) {
	rt.mu.Lock()
	rt.out = rt.out.Then(o)
	rt.mu.Unlock()
}

func (rt *route) outcome() tunnel.Outcome {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.out
}

// interim takes one interim response (1xx) to the request, received on
// HTTP/major.minor (2.0: HTTP/2), and hands it to got1xx: up to
// maxInterim of them, after which the request fails (errTooManyInterim).
func (rt *route) interim(code, major, minor int, h textproto.MIMEHeader) error {
	rt.mu.Lock()
	rt.interims++
	over := rt.interims > maxInterim
	rt.mu.Unlock()
	if over {
		return errTooManyInterim
	}
	if rt.got1xx != nil {
		rt.got1xx(code, major, minor, h)
	}
	return nil
}

// answered notes why the upstream's answer failed, as it said; nil: it
// did not, or did not say.
func (rt *route) answered(failed error) {
	rt.mu.Lock()
	rt.failed = failed
	rt.mu.Unlock()
}

// answerFailure is what answered noted.
func (rt *route) answerFailure() error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.failed
}

// tooManyInterim reports whether the request failed on maxInterim.
func (rt *route) tooManyInterim() bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.interims > maxInterim
}

type routeKey struct{}

func withRoute(ctx context.Context, rt *route) context.Context {
	return context.WithValue(ctx, routeKey{}, rt)
}

// RoundTrip sends r as its route says. A 304 to a request that asked no
// condition it could answer is refused (notModifiedUnasked).
func (cl *Client) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := cl.roundTrip(r)
	if err == nil && res.StatusCode == http.StatusNotModified && !askedNotModified(r.Header) {
		res.Body.Close()
		return nil, &tunnel.Error{Kind: tunnel.BadGateway, Err: errNotModifiedUnasked}
	}
	return res, err
}

// errNotModifiedUnasked: a 304 answers only If-None-Match or
// If-Modified-Since (RFC 9110 §15.4.5), telling the client to use the
// copy it named; to a request without either there is no such copy, and
// passed on it would leave the client with no response at all. So the
// origin's answer is unusable: 502. (The cache's own revalidations carry
// its conditions, and it answers their 304s from store itself, RFC 9111
// §4.3.1; a client's own conditional gets the origin's 304.)
var errNotModifiedUnasked = errors.New("the origin answered 304 Not Modified to a request without If-None-Match or If-Modified-Since: no response to pass on")

// askedNotModified reports whether a request with header h may be
// answered 304.
func askedNotModified(h http.Header) bool {
	return len(h["If-None-Match"]) > 0 || len(h["If-Modified-Since"]) > 0
}

func (cl *Client) roundTrip(r *http.Request) (*http.Response, error) {
	rt, ok := r.Context().Value(routeKey{}).(*route)
	if !ok {
		return nil, tunnel.Errorf(tunnel.Internal, "forward %s: no route in the request's context", r.URL.Redacted())
	}
	if rt.plan.Direct() {
		return cl.send(r, rt, directHop{})
	}
	if err := rt.plan.Down(); err != nil {
		return nil, err
	}
	var res *http.Response
	err := tunnel.Failover(r.Context(), "upstream of "+rt.plan.Via, slices.Values(rt.plan.Hops()), (*tunnel.Upstream).Name,
		func(u *tunnel.Upstream) (retry bool, err error) {
			rt.note(tunnel.Outcome{Upstream: u.Name()})
			res, retry, err = cl.tryUpstream(r, rt, u)
			return retry, err
		})
	return res, err
}

// tryUpstream sends r through u, and says whether a failure may be
// retried on the next upstream: nothing of the answer reached the client,
// and either nothing was sent (the dial failed) or the request has no body
// and the upstream refused ferry's credentials or gave no answer.
func (cl *Client) tryUpstream(r *http.Request, rt *route, u *tunnel.Upstream) (*http.Response, bool, error) {
	bodyless := r.Body == nil || r.Body == http.NoBody
	if !u.IsHTTP() {
		res, err := cl.send(r, rt, socksHop{u})
		return res, err != nil && tunnel.IsUpstreamFault(err), err
	}
	res, sent, err := cl.sendH2(r, rt, u)
	if !sent {
		res, err = cl.send(r, rt, httpHop{u})
	}
	var de dialError
	var timeout errResponseTimeout
	var nothing errNothingBack
	switch {
	case err == nil && res.StatusCode == http.StatusProxyAuthRequired:
		res.Body.Close()
		return nil, bodyless, u.Fault(&tunnel.Error{Kind: tunnel.UpstreamAuth, NextHop: u.Name(), Received: http.StatusProxyAuthRequired,
			Err: fmt.Errorf("upstream %s refused ferry's credentials (407); check the user info in its url", u.Name())})
	case err == nil:
		u.Succeeded()
		rt.answered(u.AnswerError(res.StatusCode, res.Header))
		return res, false, nil
	case r.Context().Err() != nil:
		return nil, false, err
	case clientFault(err):
		return nil, false, err
	case errors.As(err, &de):
		return nil, tunnel.IsUpstreamFault(de.err), de.err
	case errors.As(err, &timeout):
		// Connected, but no answer in time (on HTTP/1.1 or a stream of a
		// working HTTP/2 connection): the origin's slowness while the
		// upstream works (it answers an origin's failure itself, but not
		// before its own timeout), else the upstream's fault, and a
		// request without a body goes on to the next member.
		err := u.NoAnswer(&tunnel.Error{Kind: tunnel.ResponseTimeout, NextHop: u.Name(),
			Err: fmt.Errorf("upstream %s: %w", u.Name(), err)})
		return nil, bodyless && tunnel.IsUpstreamFault(err), err
	case errors.Is(err, errResponseHeadTooLarge) || errors.Is(err, errTooManyInterim) || errors.Is(err, errStatusRange):
		// An answer over ferry's bounds is an answer: what the parent
		// passed on from the origin, not the parent's failure.
		return nil, false, &tunnel.Error{Kind: tunnel.BadGateway, NextHop: u.Name(),
			Err: fmt.Errorf("upstream %s: %w", u.Name(), err)}
	case tunnel.IsStreamFailure(err):
		return nil, false, streamFailed(u, err)
	case errors.As(err, &nothing) && nothing.reused:
		// The keep-alive race: the parent closed a connection it kept
		// alive as the request went out, and send could not repeat the
		// request (not idempotent, or its body not kept). The parent
		// works (it served the conn's last request): 502, not counted,
		// as the same race with an origin.
		return nil, false, &tunnel.Error{Kind: tunnel.BadGateway, NextHop: u.Name(),
			Err: fmt.Errorf("upstream %s: %w", u.Name(), err)}
	}
	// Connected, but no answer: an HTTP upstream answers even when the
	// origin fails, so this is the upstream's fault.
	return nil, bodyless, u.Fault(&tunnel.Error{Kind: tunnel.UpstreamFailed, NextHop: u.Name(),
		Err: fmt.Errorf("upstream %s: no answer: %w", u.Name(), err)})
}

// streamFailed is the answer to a request that failed on its own stream
// to u, u's connection still working (tunnel.IsStreamFailure), other
// than by a timeout: 431 when its header list is over what u said it
// takes (RFC 9113 §6.5.2 SETTINGS_MAX_HEADER_LIST_SIZE; x/net says so
// only in its message), else 502 (a reset). u is not marked down for it.
func streamFailed(u *tunnel.Upstream, err error) error {
	kind := tunnel.UpstreamFailed
	if strings.Contains(err.Error(), "header list larger than peer's advertised limit") {
		kind = tunnel.TooLarge
	}
	return &tunnel.Error{Kind: kind, NextHop: u.Name(), Err: fmt.Errorf("upstream %s: %w", u.Name(), err)}
}

// hop is one way out for a request: where its conns go (the pool's key)
// and how to open one.
type hop interface {
	key(r *http.Request) string
	dial(ctx context.Context, cl *Client, r *http.Request, rt *route) (net.Conn, error)
	absolute() (bool, string) // absolute-form, and its Proxy-Authorization
}

// directHop dials the origin through the engine: the ACL on every address.
type directHop struct{}

func (directHop) key(r *http.Request) string { return r.URL.Scheme + " " + originKey(r.URL) }
func (directHop) absolute() (bool, string)   { return false, "" }
func (directHop) dial(ctx context.Context, cl *Client, r *http.Request, rt *route) (net.Conn, error) {
	req, err := originRequest(rt.req, r)
	if err != nil {
		return nil, err
	}
	c, out, err := cl.engine.Dial(ctx, req, rt.plan)
	if err == nil {
		out.Dialed = "" // noted with the conn actually used (gotConn)
	}
	rt.note(out)
	if err != nil {
		return nil, err
	}
	return originTLS(ctx, c, r, cl.engine.DialTimeout())
}

// httpHop sends requests in absolute form to an HTTP(S) upstream, whose
// conns any origin's requests share.
type httpHop struct{ u *tunnel.Upstream }

func (h httpHop) key(*http.Request) string { return "upstream " + h.u.Key() }
func (h httpHop) absolute() (bool, string) { return true, h.u.ProxyAuthorization() }
func (h httpHop) dial(ctx context.Context, cl *Client, r *http.Request, rt *route) (net.Conn, error) {
	start := time.Now()
	c, err := h.u.DialParent(ctx)
	rt.note(tunnel.Outcome{Dial: time.Since(start)})
	return c, err
}

// socksHop reaches the origin through a SOCKS upstream, as a tunnel
// through it would (the engine resolves and checks the ACL for socks5://).
type socksHop struct{ u *tunnel.Upstream }

func (h socksHop) key(r *http.Request) string {
	return "upstream " + h.u.Key() + " " + r.URL.Scheme + " " + originKey(r.URL)
}
func (h socksHop) absolute() (bool, string) { return false, "" }
func (h socksHop) dial(ctx context.Context, cl *Client, r *http.Request, rt *route) (net.Conn, error) {
	req, err := originRequest(rt.req, r)
	if err != nil {
		return nil, err
	}
	c, out, err := cl.engine.DialUpstream(ctx, req, h.u)
	out.Dialed = ""
	rt.note(out)
	if err != nil {
		return nil, err
	}
	return originTLS(ctx, c, r, cl.engine.DialTimeout())
}

// originTLS starts TLS on c for an https:// request sent in absolute form
// to ferry (rare: clients use CONNECT for https), verifying the origin's
// certificate against the system roots. The handshake is part of the
// dial: it gets the dial timeout.
func originTLS(ctx context.Context, c net.Conn, r *http.Request, timeout time.Duration) (net.Conn, error) {
	if r.URL.Scheme != "https" {
		return c, nil
	}
	tc := tls.Client(c, &tls.Config{ServerName: r.URL.Hostname(), MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("TLS with %s: %w", r.URL.Host, err)
	}
	return tc, nil
}

// originRequest is req aimed at r's origin (a revalidation or a redirect
// the cache follows may name the same one; the ACL asks about that).
func originRequest(req *tunnel.Request, r *http.Request) (*tunnel.Request, error) {
	host, port, err := tunnel.SplitTarget(originKey(r.URL))
	if err != nil {
		return nil, err
	}
	d := *req
	d.Host, d.Port = host, port
	return &d, nil
}

// dialError marks a failure to open a conn: nothing of the request was
// sent.
type dialError struct{ err error }

func (e dialError) Error() string { return e.err.Error() }
func (e dialError) Unwrap() error { return e.err }

// send sends r on a pooled conn of h, or a new one. A request that got no
// byte of answer on a reused conn (the origin closed it as it idled) goes
// once more on a fresh conn when replayable.
func (cl *Client) send(r *http.Request, rt *route, h hop) (*http.Response, error) {
	ctx := r.Context()
	key := h.key(r)
	var body *sentBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &sentBody{Reader: r.Body}
	}
	for fresh := false; ; fresh = true {
		var c *conn
		if !fresh {
			c = cl.pool.get(key)
		}
		if c == nil {
			nc, err := h.dial(ctx, cl, r, rt)
			if err != nil {
				return nil, dialError{err}
			}
			c = newConn(nc, key)
		}
		if err := cl.gotConn(r, rt, c, h); err != nil {
			c.nc.Close()
			return nil, err
		}
		absolute, authz := h.absolute()
		x := &exchange{c: c, r: r, absolute: absolute, authz: authz, body: body,
			interim: rt.interim, timeout: cl.responseTimeout, idle: cl.idle}
		res, err := x.roundTrip(ctx, &cl.pool)
		var nothing errNothingBack
		if err != nil && !fresh && errors.As(err, &nothing) && nothing.reused && replayable(r) &&
			(body == nil || body.rewind()) {
			continue
		}
		return res, err
	}
}

// gotConn tells the request's trace which conn serves it (the cache
// records where a response came from) and notes its address; a reused
// direct conn, dialed for another request, meets the ACL again.
func (cl *Client) gotConn(r *http.Request, rt *route, c *conn, h hop) error {
	var shown net.Conn = c.nc
	if _, direct := h.(directHop); direct {
		remote := c.nc.RemoteAddr().String()
		rt.note(tunnel.Outcome{Dialed: remote})
		if ap, err := netip.ParseAddrPort(remote); err == nil && c.reused {
			out, err := cl.engine.AuthorizeAddr(r.Context(), rt.req, ap.Addr())
			rt.note(out)
			if err != nil {
				return err
			}
		}
	} else {
		// Not the origin's address: neither the cache nor the ACL may
		// take the upstream's for it.
		rt.note(tunnel.Outcome{Dialed: c.nc.RemoteAddr().String()})
		shown = viaConn{c.nc}
	}
	if trace := httptrace.ContextClientTrace(r.Context()); trace != nil && trace.GotConn != nil {
		trace.GotConn(httptrace.GotConnInfo{Conn: shown, Reused: c.reused})
	}
	return nil
}

// replayable tells whether r may be sent again after a reused conn gave
// no answer at all: an idempotent method (RFC 9110 §9.2.2) or one with an
// idempotency key. Its body must be whole to go again (sentBody.rewind).
func replayable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	_, a := r.Header["Idempotency-Key"]
	_, b := r.Header["X-Idempotency-Key"]
	return a || b
}

// viaConn shows a conn through an upstream with an address that is not
// one, so that neither the cache nor the ACL takes it for the origin's.
type viaConn struct{ net.Conn }

func (viaConn) RemoteAddr() net.Addr { return viaAddr{} }

type viaAddr struct{}

func (viaAddr) Network() string { return "upstream" }
func (viaAddr) String() string  { return "upstream" }
