package tunnel

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/internal/netx"
	"golang.org/x/net/http2"
)

// UpstreamSpec describes one upstream proxy ([[upstream]]). Chain.Compile
// builds it from the config, with the TLS files already read.
type UpstreamSpec struct {
	Name string
	// URL is http://, https://, socks5:// or socks5h://host:port; its user
	// info is what ferry logs in with (Basic, or SOCKS5 username/password).
	URL *url.URL
	// TLS is the client config for an https upstream: roots, server name,
	// client certificate. nil: the system roots and the URL's host. TLS 1.2
	// is the least accepted whatever it says.
	TLS *tls.Config
	// Via names the upstream through which this one is reached (A → B →
	// C chains); "" dials it directly.
	Via    string
	Health HealthSpec
	// HTTP2 has an https upstream's tunnels be streams on HTTP/2
	// connections when the parent offers h2 (upstream_h2.go); H2Conns is
	// how many connections the streams are spread over (at least 1).
	HTTP2   bool
	H2Conns int
}

// Upstream kinds, by URL scheme.
const (
	schemeHTTP    = "http"
	schemeHTTPS   = "https"
	schemeSOCKS5  = "socks5"  // ferry resolves the name, the parent gets an address
	schemeSOCKS5H = "socks5h" // the parent resolves the name
)

// Upstream is one parent proxy: a Dialer that opens tunnels through it.
// Its health record is kept by the engine across reloads (by key), and
// open counts the connections through it now (least-connections).
type Upstream struct {
	name   string
	scheme string
	addr   string // the parent's host:port
	key    string // identity for health across reloads
	spec   UpstreamSpec
	tls    *tls.Config // https only: HTTP/1.1 (plain requests, and tunnels without HTTP/2)
	tlsH2  *tls.Config // https with HTTP2: h2 offered before http/1.1
	h2     *h2Pool     // https with HTTP2: the parent's HTTP/2 connections
	authz  string      // Proxy-Authorization value; "" when none
	via    *Upstream
	health *health
	open   atomic.Int64
}

// Name is the upstream's configured name.
func (u *Upstream) Name() string { return u.name }

// Addr is the parent's host:port as configured.
func (u *Upstream) Addr() string { return u.addr }

// IsHTTP reports whether the upstream is an HTTP proxy (http or https),
// to which plain-HTTP requests are forwarded in absolute form.
func (u *Upstream) IsHTTP() bool { return u.scheme == schemeHTTP || u.scheme == schemeHTTPS }

// ResolvesLocally reports whether ferry resolves names before handing
// the target on (socks5://, which carries addresses).
func (u *Upstream) ResolvesLocally() bool { return u.scheme == schemeSOCKS5 }

// ProxyAuthorization is the Proxy-Authorization ferry logs in to the
// upstream with (Basic, from the user info of its URL), for requests it
// writes itself on a conn from DialParent; "" when none.
func (u *Upstream) ProxyAuthorization() string { return u.authz }

// Key identifies the upstream across reloads: equal keys, equal
// behaviour. It holds the credentials: never log it.
func (u *Upstream) Key() string { return u.key }

// Open is the number of connections through the upstream now.
func (u *Upstream) Open() int64 { return u.open.Load() }

// String is the upstream for logs: its name and URL without the password.
func (u *Upstream) String() string { return u.name + " (" + u.spec.URL.Redacted() + ")" }

// newUpstreams builds the upstreams of specs, linking each to its via.
func newUpstreams(specs []UpstreamSpec) (map[string]*Upstream, error) {
	ups := make(map[string]*Upstream, len(specs))
	for _, s := range specs {
		if _, dup := ups[s.Name]; dup {
			return nil, fmt.Errorf("upstream %q defined twice", s.Name)
		}
		u, err := newUpstream(s)
		if err != nil {
			return nil, err
		}
		ups[s.Name] = u
	}
	for _, s := range specs {
		if s.Via == "" {
			continue
		}
		via, ok := ups[s.Via]
		if !ok {
			return nil, fmt.Errorf("upstream %q: via %q: no such upstream", s.Name, s.Via)
		}
		ups[s.Name].via = via
	}
	// A cycle would recurse for ever at the first dial.
	for name, u := range ups {
		seen := map[*Upstream]bool{}
		for v := u; v != nil; v = v.via {
			if seen[v] {
				return nil, fmt.Errorf("upstream %q: its via chain loops", name)
			}
			seen[v] = true
		}
		u.key = u.chainKey()
	}
	return ups, nil
}

func newUpstream(s UpstreamSpec) (*Upstream, error) {
	if s.URL == nil {
		return nil, fmt.Errorf("upstream %q: no url", s.Name)
	}
	u := &Upstream{name: s.Name, scheme: s.URL.Scheme, addr: s.URL.Host, spec: s}
	switch u.scheme {
	case schemeHTTP, schemeHTTPS, schemeSOCKS5, schemeSOCKS5H:
	default:
		return nil, fmt.Errorf("upstream %q: scheme %q: want http, https, socks5 or socks5h", s.Name, u.scheme)
	}
	if _, _, err := net.SplitHostPort(u.addr); err != nil {
		return nil, fmt.Errorf("upstream %q: %q is not host:port", s.Name, u.addr)
	}
	if u.IsHTTP() && s.URL.User != nil {
		pass, _ := s.URL.User.Password()
		u.authz = "Basic " + base64.StdEncoding.EncodeToString([]byte(s.URL.User.Username()+":"+pass))
	}
	if u.scheme == schemeHTTPS {
		c := &tls.Config{}
		if s.TLS != nil {
			c = s.TLS.Clone()
		}
		if c.ServerName == "" {
			c.ServerName = s.URL.Hostname()
		}
		c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
		// What speaks HTTP/1.1 on the connection never negotiates h2.
		c.NextProtos = []string{"http/1.1"}
		if c.ClientSessionCache == nil {
			// Resumed handshakes skip the certificate exchange: most of
			// the cost of a tunnel through an https upstream.
			c.ClientSessionCache = tls.NewLRUClientSessionCache(64)
		}
		u.tls = c
		if s.HTTP2 {
			u.tlsH2 = c.Clone()
			u.tlsH2.NextProtos = []string{http2.NextProtoTLS, "http/1.1"}
			u.h2 = &h2Pool{max: max(s.H2Conns, 1)}
		}
	}
	u.spec.Health.setDefaults()
	u.health = newHealth(u.spec.Health)
	return u, nil
}

// chainKey identifies the upstream for health across reloads: its name,
// its URL (credentials included: new ones deserve a fresh start) and the
// keys of its way out.
func (u *Upstream) chainKey() string {
	k := u.name + "\x00" + u.spec.URL.String()
	if u.via != nil {
		k += "\x00via\x00" + u.via.chainKey()
	}
	return k
}

// DialContext opens a tunnel through the upstream to addr (host:port).
// A failure of the upstream itself marks it down; a failure the upstream
// reports about the target (its DNS, a refusal, its ACL) does not, and is
// returned with the kind the upstream gave it.
func (u *Upstream) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if u.h2 != nil {
		c, err := u.dialH2(ctx, addr)
		if err != nil {
			return nil, u.judge(err)
		}
		u.health.succeeded()
		return u.counted(c), nil
	}
	parent, err := u.DialParent(ctx)
	if err != nil {
		return nil, err
	}
	var c net.Conn
	if u.IsHTTP() {
		c, err = u.connect(ctx, parent, addr)
	} else {
		c, err = u.socksConnect(ctx, parent, addr)
	}
	if err != nil {
		parent.Close()
		return nil, u.judge(err)
	}
	u.health.succeeded()
	return u.counted(c), nil
}

// DialParent connects to the parent itself: directly or through the via
// upstream, then TLS for an https upstream. Its failures are the
// upstream's own, unless the via upstream failed (it is marked instead).
func (u *Upstream) DialParent(ctx context.Context) (net.Conn, error) {
	return u.dialParent(ctx, u.tls)
}

// dialParent is DialParent with the TLS config to use (h2 offered or not).
func (u *Upstream) dialParent(ctx context.Context, tlsCfg *tls.Config) (net.Conn, error) {
	// The way to the parent: the via upstream's tunnel, or a plain dial.
	var way Dialer = &net.Dialer{}
	if u.via != nil {
		way = u.via
	}
	c, err := way.DialContext(ctx, "tcp", u.addr)
	if err != nil {
		if isUpstreamFault(err) {
			return nil, err // the via upstream's own failure, marked there
		}
		return nil, u.fault(dialError(err, "connect to upstream "+u.name))
	}
	if u.scheme != schemeHTTPS {
		return c, nil
	}
	// A RecordBatcher under the TLS conn lets HTTP/2 send each of its
	// writes in one system call (parentH2).
	tc := tls.Client(netx.NewRecordBatcher(c), tlsCfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		k := KindOf(err)
		if k == BadGateway || k == Internal {
			k = TLSFailed
		}
		return nil, u.fault(&Error{Kind: k, Err: fmt.Errorf("TLS with upstream %s: %w", u.name, err)})
	}
	return tc, nil
}

// dialError turns a failed dial into an *Error with its kind, saying what
// was being done; a deadline becomes a Timeout whatever layer noticed it.
func dialError(err error, doing string) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Kind: Timeout, Err: fmt.Errorf("%s: no answer in time", doing)}
	}
	return &Error{Kind: KindOf(err), Err: fmt.Errorf("%s: %w", doing, err)}
}

// judge decides whose failure err is: the target's (reported by the
// upstream, passed on) or the upstream's (it is marked down).
func (u *Upstream) judge(err error) error {
	var te *Error
	if errors.As(err, &te) && te.NextHop == "" {
		te.NextHop = u.name
	}
	var tf *targetFailure
	if errors.As(err, &tf) {
		return tf.err
	}
	if isUpstreamFault(err) {
		return err
	}
	if !errors.As(err, &te) {
		err = &Error{Kind: KindOf(err), NextHop: u.name, Err: fmt.Errorf("upstream %s: %w", u.name, err)}
	}
	return u.fault(err)
}

// targetFailure is a failure the upstream reported about the target: it
// is passed on to the client and does not count against the upstream.
type targetFailure struct{ err error }

// answerTimeout is no answer in time from a parent that was reached (the
// connection made, TLS done, the request sent or its greeting answered).
// While something else through the parent succeeded within
// answerTimeoutGrace, the parent works and is most likely still dialing a
// silent target: the target's failure, a 504 passed on, not counted
// against the parent; counted, a client naming any silent address would
// take the parent out of service for everyone (squid, too, counts only
// failures to connect to a peer). Otherwise err is returned as it is, and
// judge counts it: a parent that hangs is still taken out, within
// answerTimeoutGrace of its last success.
func (u *Upstream) answerTimeout(err error) error {
	kind := Timeout // a CONNECT's answer: the parent's connection to the target
	if KindOf(err) == ResponseTimeout {
		kind = ResponseTimeout // a response head: the origin's answer
	}
	return u.excuse(&Error{Kind: kind, NextHop: u.name, Err: err})
}

// excuse is e, a failure of u's own that may be this target's (no answer
// in time, or an answer of a failure without a word about the target), not
// counted against u while u worked within answerTimeoutGrace (a
// targetFailure, marked excused), else e: a client naming a bad target
// must not take u out for everyone.
func (u *Upstream) excuse(e *Error) error {
	if !u.health.workedWithin(answerTimeoutGrace) {
		return e
	}
	return &targetFailure{excused{e}}
}

// excused is a failure of an upstream's own that was not counted against
// it because it worked recently. The active checker counts it: its probe
// target is known to answer, so there the failure is the upstream's (and
// a success it would otherwise note would keep a hung upstream in).
type excused struct{ err error }

func (e excused) Error() string { return e.err.Error() }
func (e excused) Unwrap() error { return e.err }

// isExcused reports whether err is a failure excused by excuse.
func isExcused(err error) bool {
	var ex excused
	return errors.As(err, &ex)
}

// NoAnswer is the error for a request sent to u that got no answer in
// time (response_timeout, on a connection of its own): the origin's
// timeout while u worked recently (answerTimeout), else u's fault.
func (u *Upstream) NoAnswer(err error) error {
	var tf *targetFailure
	if errors.As(u.answerTimeout(err), &tf) {
		return tf.err
	}
	return u.fault(err)
}

// answerTimeoutGrace is how recent a parent's last success must be for
// no answer in time to be put on the target (answerTimeout).
const answerTimeoutGrace = 30 * time.Second

func (t *targetFailure) Error() string { return t.err.Error() }
func (t *targetFailure) Unwrap() error { return t.err }

// upstreamFault is a failure of an upstream itself; a group tries its next
// member after one.
type upstreamFault struct {
	u   *Upstream
	err error
}

func (f *upstreamFault) Error() string { return f.err.Error() }
func (f *upstreamFault) Unwrap() error { return f.err }

// IsUpstreamFault reports whether err is a failure of an upstream itself
// (it is down now), after which another upstream may be tried.
func IsUpstreamFault(err error) bool { return isUpstreamFault(err) }

func isUpstreamFault(err error) bool {
	var f *upstreamFault
	return errors.As(err, &f)
}

// fault marks u down for err and returns err as its fault.
func (u *Upstream) fault(err error) error {
	var te *Error
	if errors.As(err, &te) && te.NextHop == "" {
		te.NextHop = u.name
	}
	u.health.failed(err)
	return &upstreamFault{u: u, err: err}
}

// Fault marks u down after a failure seen by a caller that used the
// parent conn itself (plain HTTP sent in absolute form) and returns the
// error to answer with.
func (u *Upstream) Fault(err error) error { return u.fault(err) }

// Succeeded notes that u served a request, bringing it back if it was down.
func (u *Upstream) Succeeded() { u.health.succeeded() }

// counted wraps c so that u.open counts it until it is closed. The relay
// unwraps it (tcpConn) to splice.
func (u *Upstream) counted(c net.Conn) net.Conn {
	u.open.Add(1)
	return &countedConn{Conn: c, u: u}
}

// countedConn is a conn through an upstream, counted while open.
type countedConn struct {
	net.Conn
	u    *Upstream
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.u.open.Add(-1) })
	return c.Conn.Close()
}

// CloseWrite half-closes the conn under it.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// NetConn is the conn under the count.
func (c *countedConn) NetConn() net.Conn { return c.Conn }
