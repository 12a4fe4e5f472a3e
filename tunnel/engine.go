package tunnel

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/limit"
)

// Dialer opens a connection to addr: *net.Dialer fits, and so does an
// *Upstream, which opens a tunnel through its parent proxy. It is the
// x/net/proxy.ContextDialer method set.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Policy is everything a reload may replace at once.
type Policy struct {
	ACL       acl.Decider
	Users     Authenticator             // nil: no users; credentials are ignored
	Listeners map[string]ListenerPolicy // by listener name
	Routes    *Routes                   // nil: every request goes direct (route.go)
	Limits    *limit.Set                // the [[limit]] rules; nil: none (limits.go)
}

// Engine authorizes, routes, dials and relays for every front end. Its
// calls take the request's context and return what they decided as an
// Outcome; it does not know which front end called it.
type Engine struct {
	cfg    Config
	policy atomic.Pointer[Policy]
	now    func() time.Time
	fails  *failLimiter // survives reloads: a new policy is no fresh start
	// sharedFails counts failed logins fleet-wide; nil in one process
	// (limiter_shared.go).
	sharedFails SharedFailures
	book        healthBook  // upstream health, kept across reloads (health.go)
	assocs      assocCounts // open datagram associations (packet_limits.go)

	limiter atomic.Pointer[limit.Limiter] // survives reloads, as fails (limits.go)
}

// New returns an engine with policy p (nil: allow all).
func New(cfg Config, p *Policy) *Engine {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.BindTimeout <= 0 {
		cfg.BindTimeout = DefaultBindTimeout
	}
	e := &Engine{cfg: cfg, now: time.Now, fails: newFailLimiter()}
	e.SetPolicy(p)
	return e
}

// SetPolicy swaps the policy; requests already past Authorize keep the old.
func (e *Engine) SetPolicy(p *Policy) {
	if p == nil {
		p = &Policy{}
	}
	if p.ACL == nil {
		p.ACL = acl.AllowAll{}
	}
	e.bindRoutes(p)
	e.needLimiter(p)
	if old := e.policy.Swap(p); old != nil && old.Routes != p.Routes {
		old.Routes.retire()
	}
}

// Close stops the upstreams' active checkers and the limiter's flusher
// and waits for them.
func (e *Engine) Close() {
	e.book.close()
	e.policy.Load().Routes.retire()
	if l := e.limiter.Load(); l != nil {
		l.Close()
	}
}

// IdleTimeout is the relay idle timeout front ends pass to Relay.
func (e *Engine) IdleTimeout() time.Duration { return e.cfg.IdleTimeout }

// HandshakeTimeout bounds each read of a client's request head or
// handshake; every front end takes it from here.
func (e *Engine) HandshakeTimeout() time.Duration { return e.cfg.HandshakeTimeout }

// TCPKeepAlive is the keep-alive period for the TCP connections ferry
// accepts and dials, in net.Dialer.KeepAlive's terms: -1 is off, 0 is Go's
// default (15s). Keep-alive probes exist to find peers that vanished; the
// relay's idle timeout already ends every tunnel that moves nothing, dead
// or not, and the HTTP front end times out idle client and origin
// connections of its own. With an idle timeout the probes add nothing but
// five setsockopt(2) calls per connection (SO_KEEPALIVE, TCP_KEEPIDLE,
// TCP_KEEPINTVL, TCP_KEEPCNT), ten per tunnel, on the setup path (issue 9).
// With idle_timeout = "0s" nothing else would reap a tunnel whose peer is
// gone, so keep-alive stays on.
func (e *Engine) TCPKeepAlive() time.Duration {
	if e.cfg.IdleTimeout > 0 {
		return -1
	}
	return 0
}

// DialTimeout is the time a dial may take, for dials made beside the
// engine's (a TLS handshake with an origin).
func (e *Engine) DialTimeout() time.Duration { return e.cfg.DialTimeout }
