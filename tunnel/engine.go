package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ferry-proxy/ferry/acl"
)

// Dialer is the x/net/proxy.ContextDialer method set; *net.Dialer fits.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Config holds the engine's limits.
type Config struct {
	DialTimeout time.Duration `toml:"dial_timeout"` // default 10s
	IdleTimeout time.Duration `toml:"idle_timeout"` // default 5m; 0 disables
}

// Policy is everything a reload may replace at once.
type Policy struct {
	ACL       acl.Decider
	Users     Authenticator             // nil: no users; credentials are ignored
	Listeners map[string]ListenerPolicy // by listener name
	Routes    *Routes                   // nil: every request goes direct (route.go)
}

// Engine authorizes, dials and relays for every front end.
type Engine struct {
	cfg    Config
	policy atomic.Pointer[Policy]
	now    func() time.Time
	fails  *failLimiter // survives reloads: a new policy is no fresh start
	chain  chainState   // upstream health, kept across reloads (chain.go)
}

// New returns an engine with policy p (nil: allow all).
func New(cfg Config, p *Policy) *Engine {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
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
	e.policy.Store(p)
}

// IdleTimeout is the relay idle timeout front ends pass to Relay.
func (e *Engine) IdleTimeout() time.Duration { return e.cfg.IdleTimeout }

func (e *Engine) query(req *Request) acl.Query {
	q := acl.Query{
		Port:   req.Port,
		Proto:  aclProto(req.Proto),
		Method: req.Method,
		User:   req.User,
		Client: req.Client.Addr().Unmap(),
		Time:   e.now(),
	}
	if ip, ok := parseIP(req.Host); ok {
		q.IP = ip.Unmap()
	} else {
		q.Host = req.Host
	}
	return q
}

// parseIP parses host as an address. A name fails fast, without the
// error netip.ParseAddr allocates: the ACL and route decisions run on
// every request and allocate nothing (issue 9).
func parseIP(host string) (netip.Addr, bool) {
scan:
	for i := 0; i < len(host); i++ {
		switch c := host[i]; {
		case c == '%':
			break scan // an IPv6 zone may be any name
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F', c == '.', c == ':':
		default:
			return netip.Addr{}, false // a letter past f, a dash...: a name
		}
	}
	ip, err := netip.ParseAddr(host)
	return ip, err == nil
}

func aclProto(p string) string {
	if p == ProtoSOCKS4 || p == ProtoSOCKS5 {
		return "socks"
	}
	return p
}

// Authorize asks the ACL with what is known before any DNS lookup. A
// verdict that needs the address is left to Dial.
func (e *Engine) Authorize(req *Request) error {
	// The query lives in the request, already on the heap: one on the
	// stack would escape through the Decider interface, an allocation
	// per request.
	q := &req.query
	*q = e.query(req)
	v := e.policy.Load().ACL.Decide(q)
	if v.NeedIP {
		return nil
	}
	e.logVerdict(req, v)
	if !v.Allow {
		kind := Denied
		if q.Host == "" {
			kind = DeniedIP
		}
		return &Error{Kind: kind, Rule: v.Rule, Err: fmt.Errorf("%s denied by rule %q", req.Target(), v.Rule)}
	}
	return nil
}

func (e *Engine) logVerdict(req *Request, v acl.Verdict) {
	if req.Log == nil {
		return
	}
	req.Log.Rule = v.Rule
	req.Log.Decision = "deny"
	if v.Allow {
		req.Log.Decision = "allow"
	}
}

// dialDirect connects to the request's target itself. The name is resolved by the
// dialer (Happy Eyeballs across families) and the ACL is asked again in the
// dialer's Control hook with each address exactly as it is about to be
// connected, so there is no second lookup a rebinding DNS could change.
func (e *Engine) dialDirect(ctx context.Context, req *Request) (net.Conn, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, e.cfg.DialTimeout)
	defer cancel()

	p := e.policy.Load()
	q := e.query(req)
	// Happy Eyeballs may call Control from two goroutines at once.
	var mu sync.Mutex
	var ipVerdict acl.Verdict
	var tried string // the last address connected to, for the log when all fail
	d := net.Dialer{
		KeepAlive: e.TCPKeepAlive(),
		ControlContext: func(_ context.Context, network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			q := q
			q.IP = ap.Addr().Unmap()
			v := p.ACL.Decide(&q)
			mu.Lock()
			defer mu.Unlock()
			ipVerdict = v
			if !v.Allow {
				return &Error{Kind: DeniedIP, Rule: v.Rule, Err: fmt.Errorf("%s denied by rule %q", address, v.Rule)}
			}
			tried = address
			return nil
		},
	}
	c, err := d.DialContext(ctx, "tcp", req.Target())
	mu.Lock()
	defer mu.Unlock()
	if req.Log != nil {
		req.Log.Dial = time.Since(start)
		if ipVerdict.Rule != "" {
			e.logVerdict(req, ipVerdict)
		}
	}
	if err != nil {
		if req.Log != nil && tried != "" {
			req.Log.Dialed, req.Log.DialFailed = tried, true
		}
		// The socket deadline net sets from ctx ("i/o timeout",
		// os.ErrDeadlineExceeded) may fire before ctx's own timer, so
		// ctx.Err() alone cannot tell that the dial timed out.
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, &Error{Kind: Timeout, Err: fmt.Errorf("dial %s: no answer within %v", req.Target(), e.cfg.DialTimeout)}
		}
		return nil, fmt.Errorf("dial %s: %w", req.Target(), err)
	}
	if req.Log != nil {
		// A retry (reverse pools, upstream failover) may follow a failure.
		req.Log.Dialed, req.Log.DialFailed = c.RemoteAddr().String(), false
	}
	return c, nil
}

// CheckIP asks the ACL whether req may reach ip, for a connection that was
// dialed for another request and is being reused. The verdict is returned
// for the access log.
func (e *Engine) CheckIP(req *Request, ip netip.Addr) (acl.Verdict, error) {
	q := &req.query // as in Authorize: no allocation
	*q = e.query(req)
	q.IP = ip.Unmap()
	v := e.policy.Load().ACL.Decide(q)
	if !v.Allow {
		return v, &Error{Kind: DeniedIP, Rule: v.Rule, Err: fmt.Errorf("%s denied by rule %q", ip, v.Rule)}
	}
	return v, nil
}
