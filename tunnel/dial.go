package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/ferry-proxy/ferry/acl"
)

// Open applies the limits (Admit), routes req and dials it as its route
// says: Route, then Dial. The Outcome includes Authorize's verdict unless
// a check on an address replaced it. A conn under limits holds them until
// it is closed.
func (e *Engine) Open(ctx context.Context, req *Request) (net.Conn, Outcome, error) {
	t, err := e.Admit(ctx, req)
	if err != nil {
		return nil, req.authorized, err
	}
	plan, out, err := e.Route(ctx, req)
	if err != nil {
		t.Done()
		return nil, out, err
	}
	c, dialed, err := e.Dial(ctx, req, plan)
	if err != nil {
		t.Done()
		return nil, out.Then(dialed), err
	}
	return limited(c, t), out.Then(dialed), nil
}

// Route decides where req goes, before the dial: the first [[route]] that
// matches, or the default. A route matcher on addresses makes ferry
// resolve the name (and route by the first address). Through an
// upstream, ferry does not resolve the name itself (the upstream does,
// and applies its own policy) unless an ACL rule needs the address: then
// every address is checked here, and the name is still what the upstream
// is given.
func (e *Engine) Route(ctx context.Context, req *Request) (*Plan, Outcome, error) {
	p := e.policy.Load()
	out := req.authorized
	rt := p.Routes
	if rt == nil {
		out.Route = DirectPlan.Route
		return DirectPlan, out, nil
	}
	// In the request, as in Authorize: on the stack it would escape.
	q := &req.query
	*q = e.query(req)
	r, needIP := rt.pick(q)
	var addrs []netip.Addr
	if needIP {
		var err error
		if addrs, err = e.lookup(ctx, req.Host); err != nil {
			return nil, out, err
		}
		q.IP = addrs[0]
		r, _ = rt.pick(q)
		q.IP = netip.Addr{}
	}
	var g *group
	switch {
	case r.env:
		g = rt.env.group(req)
	case r.to != nil:
		g = r.to
	}
	if g == nil {
		plan := r.direct
		if plan == nil {
			plan = &Plan{Route: r.name}
		}
		out.Route = plan.Route
		return plan, out, nil
	}
	if err := e.checkAddrs(ctx, p.ACL, req, q, addrs, &out); err != nil {
		return nil, out, err
	}
	plan := g.plan(r.name)
	out.Route, out.Upstream = plan.Route, plan.Via
	return plan, out, nil
}

// checkAddrs asks the ACL about every address of req's name when its
// verdict needs one (Authorize left it open): the upstream may dial any
// of them, so one denied address denies the request.
func (e *Engine) checkAddrs(ctx context.Context, d acl.Decider, req *Request, q *acl.Query, addrs []netip.Addr, out *Outcome) error {
	if q.Host == "" {
		return nil // an address: Authorize decided with it
	}
	if v := d.Decide(q); !v.NeedIP {
		return nil
	}
	if addrs == nil {
		var err error
		if addrs, err = e.lookup(ctx, req.Host); err != nil {
			return err
		}
	}
	var v acl.Verdict
	for _, a := range addrs {
		q.IP = a
		v = d.Decide(q)
		if !v.Allow {
			out.decided(v.Rule, false)
			return &Error{Kind: DeniedIP, Rule: v.Rule, Err: fmt.Errorf("%s (%s) denied by rule %q", req.Host, a, v.Rule)}
		}
	}
	out.decided(v.Rule, true)
	return nil
}

// lookup resolves host under the dial timeout.
func (e *Engine) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip.Unmap()}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.DialTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err == nil && len(addrs) == 0 {
		err = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	if err != nil {
		return nil, &Error{Kind: KindOf(err), Err: fmt.Errorf("resolve %s: %w", host, err)}
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	return addrs, nil
}

// Dial connects to req's target as plan says: directly (see dialDirect),
// or through the plan's upstreams, tried in order by Failover. A failure
// of an upstream itself (it refused, timed out, answered 407 or 5xx) takes
// it out for its back-off and the next one is tried, nothing having
// reached the client yet; a failure the upstream reports about the target
// is answered at once. Each upstream gets the whole dial timeout. The
// Outcome holds the dial only (and a verdict on an address, if one was
// asked); Open joins it to the route's.
func (e *Engine) Dial(ctx context.Context, req *Request, plan *Plan) (net.Conn, Outcome, error) {
	if plan.Direct() {
		return e.dialDirect(ctx, req)
	}
	var out Outcome
	if plan.down != nil {
		out.Upstream = plan.Via
		return nil, out, plan.down
	}
	start := time.Now()
	var conn net.Conn
	err := Failover(ctx, "upstream of "+plan.Via, slices.Values(plan.hops), (*Upstream).Name,
		func(u *Upstream) (bool, error) {
			c, err := e.dialVia(ctx, req, u, &out)
			out.Upstream, out.Dial = u.name, time.Since(start)
			if err != nil {
				return isUpstreamFault(err), err
			}
			conn = c
			return false, nil
		})
	if err != nil {
		return nil, out, err
	}
	out.Dialed, out.DialFailed = conn.RemoteAddr().String(), false
	return conn, out, nil
}

// DialUpstream opens a tunnel for req through u alone, one hop of a plan,
// for a caller that fails over between a plan's upstreams itself (plain
// HTTP, whose HTTP upstreams are spoken to in absolute form).
func (e *Engine) DialUpstream(ctx context.Context, req *Request, u *Upstream) (net.Conn, Outcome, error) {
	out := Outcome{Upstream: u.name}
	start := time.Now()
	c, err := e.dialVia(ctx, req, u, &out)
	out.Dial = time.Since(start)
	if err == nil {
		out.Dialed = c.RemoteAddr().String()
	}
	return c, out, err
}

// dialVia opens the tunnel through u. A socks5:// upstream takes
// addresses, so ferry resolves the name and gives it the first address
// the ACL allows (noted in out).
func (e *Engine) dialVia(ctx context.Context, req *Request, u *Upstream, out *Outcome) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.DialTimeout)
	defer cancel()
	target := req.Target()
	if u.ResolvesLocally() {
		if _, err := netip.ParseAddr(req.Host); err != nil {
			ip, err := e.allowedAddr(ctx, req, out)
			if err != nil {
				return nil, err
			}
			target = net.JoinHostPort(ip.String(), strconv.Itoa(int(req.Port)))
		}
	}
	return u.DialContext(ctx, "tcp", target)
}

// allowedAddr resolves req's name and returns the first address the ACL
// allows.
func (e *Engine) allowedAddr(ctx context.Context, req *Request, out *Outcome) (netip.Addr, error) {
	addrs, err := e.lookup(ctx, req.Host)
	if err != nil {
		return netip.Addr{}, err
	}
	q := e.query(req)
	d := e.policy.Load().ACL
	var v acl.Verdict
	for _, a := range addrs {
		q.IP = a
		if v = d.Decide(&q); v.Allow {
			out.decided(v.Rule, true)
			return a, nil
		}
	}
	out.decided(v.Rule, false)
	return netip.Addr{}, &Error{Kind: DeniedIP, Rule: v.Rule, Err: fmt.Errorf("every address of %s denied by rule %q", req.Host, v.Rule)}
}

// dialDirect connects to the request's target itself. The name is
// resolved by the dialer (Happy Eyeballs across families) and the ACL is
// asked again in the dialer's Control hook with each address exactly as it
// is about to be connected, so there is no second lookup a rebinding DNS
// could change.
func (e *Engine) dialDirect(ctx context.Context, req *Request) (net.Conn, Outcome, error) {
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
	out := Outcome{Dial: time.Since(start)}
	if ipVerdict.Rule != "" {
		out.decided(ipVerdict.Rule, ipVerdict.Allow)
	}
	if err != nil {
		if tried != "" {
			out.Dialed, out.DialFailed = tried, true
		}
		// The socket deadline net sets from ctx ("i/o timeout",
		// os.ErrDeadlineExceeded) may fire before ctx's own timer, so
		// ctx.Err() alone cannot tell that the dial timed out.
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, out, &Error{Kind: Timeout, Err: fmt.Errorf("dial %s: no answer within %v", req.Target(), e.cfg.DialTimeout)}
		}
		return nil, out, fmt.Errorf("dial %s: %w", req.Target(), err)
	}
	out.Dialed = c.RemoteAddr().String()
	return c, out, nil
}
