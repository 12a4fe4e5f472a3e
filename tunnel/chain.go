package tunnel

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferry-proxy/ferry/acl"
)

// chainState is the engine's part of routing that outlives a policy: the
// upstreams' health records (by key, so a reload keeps them for upstreams
// it does not change) and their active checkers.
type chainState struct {
	mu      sync.Mutex
	book    map[string]*health
	note    func(UpstreamEvent)
	ticker  func(time.Duration) (<-chan time.Time, func()) // tests replace it
	stopAll context.CancelFunc                             // the checkers of the current book
	wg      sync.WaitGroup
}

func newTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// SetUpstreamLog sets the function told of each upstream going down or
// coming back (cmd/ferry logs it).
func (e *Engine) SetUpstreamLog(f func(UpstreamEvent)) {
	e.chain.mu.Lock()
	defer e.chain.mu.Unlock()
	e.chain.note = f
}

// bindRoutes gives the upstreams of p the health records of their keys
// (new ones for new keys), drops the records p no longer uses, and
// restarts the active checkers on the new set. SetPolicy calls it before
// p is published.
func (e *Engine) bindRoutes(p *Policy) {
	c := &e.chain
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopAll != nil {
		c.stopAll()
		c.stopAll = nil
	}
	book := map[string]*health{}
	if p.Routes != nil {
		for _, u := range p.Routes.upstreams {
			h, ok := c.book[u.key]
			if !ok {
				h = u.health
			}
			h.mu.Lock()
			h.spec = u.spec.Health
			h.now = e.now
			name := u.name
			h.note = func(ev UpstreamEvent) {
				ev.Name = name
				c.mu.Lock()
				note := c.note
				c.mu.Unlock()
				if note != nil {
					note(ev)
				}
			}
			h.mu.Unlock()
			h.cur.Store(u)
			u.health = h
			book[u.key] = h
		}
	}
	c.book = book
	ctx, cancel := context.WithCancel(context.Background())
	c.stopAll = cancel
	if c.ticker == nil {
		c.ticker = newTicker
	}
	for _, h := range book {
		if h.spec.Probe != "" {
			tick, stop := c.ticker(h.spec.Interval)
			c.wg.Go(func() { e.check(ctx, h, tick, stop) })
		}
	}
}

// UpstreamState is an upstream's health now, for metrics.
type UpstreamState struct {
	Name string
	Up   bool  // may be tried now: not taken out, or its back-off is over
	Open int64 // connections through it now
}

// UpstreamStates lists the current policy's upstreams by name.
func (e *Engine) UpstreamStates() []UpstreamState {
	rt := e.policy.Load().Routes
	if rt == nil {
		return nil
	}
	out := make([]UpstreamState, 0, len(rt.upstreams))
	for _, u := range rt.upstreams {
		out = append(out, UpstreamState{Name: u.name, Up: u.health.available(), Open: u.Open()})
	}
	slices.SortFunc(out, func(a, b UpstreamState) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Close stops the upstreams' active checkers and waits for them.
func (e *Engine) Close() {
	e.chain.mu.Lock()
	if e.chain.stopAll != nil {
		e.chain.stopAll()
		e.chain.stopAll = nil
	}
	e.chain.mu.Unlock()
	e.chain.wg.Wait()
}

// check is an active checker: at each tick it opens a tunnel through the
// upstream to the probe target. An answer from the upstream, even one
// saying the target failed, shows the upstream works and brings it back;
// a failure of the upstream itself takes it out as a client's would.
func (e *Engine) check(ctx context.Context, h *health, tick <-chan time.Time, stop func()) {
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		u := h.cur.Load()
		pctx, cancel := context.WithTimeout(ctx, e.cfg.DialTimeout)
		c, err := u.DialContext(pctx, "tcp", h.spec.Probe)
		cancel()
		switch {
		case err == nil:
			c.Close()
		case ctx.Err() != nil:
			return
		case !isUpstreamFault(err):
			h.succeeded()
		}
	}
}

// Route decides where req goes, before the dial: the first [[route]] that
// matches, or the default. A route matcher on addresses makes ferry
// resolve the name (and route by the first address). Through an
// upstream, ferry does not resolve the name itself (the upstream does,
// and applies its own policy) unless an ACL rule needs the address: then
// every address is checked here, and the name is still what the upstream
// is given.
func (e *Engine) Route(ctx context.Context, req *Request) (*Plan, error) {
	p := e.policy.Load()
	rt := p.Routes
	if rt == nil || req.Proto == ProtoTCP || req.Proto == ProtoTLS {
		// Reverse mode's backends are the config's own, not targets
		// clients name: they are always dialed directly. The record's
		// route and upstream are the reverse route and backend, which
		// the reverse front end wrote: a plan's would clobber them.
		if req.Proto == ProtoTCP || req.Proto == ProtoTLS {
			return directPlan, nil
		}
		e.notePlan(req, directPlan)
		return directPlan, nil
	}
	// In the request, as in Authorize: on the stack it would escape.
	q := &req.query
	*q = e.query(req)
	r, needIP := rt.pick(q)
	var addrs []netip.Addr
	if needIP {
		var err error
		if addrs, err = e.lookup(ctx, req.Host); err != nil {
			return nil, err
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
		e.notePlan(req, plan)
		return plan, nil
	}
	if err := e.checkAddrs(ctx, p.ACL, req, q, addrs); err != nil {
		return nil, err
	}
	plan := g.plan(r.name)
	e.notePlan(req, plan)
	return plan, nil
}

func (e *Engine) notePlan(req *Request, p *Plan) {
	if req.Log != nil {
		req.Log.Route = p.Route
		req.Log.Upstream = p.Via
	}
}

// checkAddrs asks the ACL about every address of req's name when its
// verdict needs one (Authorize left it open): the upstream may dial any
// of them, so one denied address denies the request.
func (e *Engine) checkAddrs(ctx context.Context, d acl.Decider, req *Request, q *acl.Query, addrs []netip.Addr) error {
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
			e.logVerdict(req, v)
			return &Error{Kind: DeniedIP, Rule: v.Rule, Err: fmt.Errorf("%s (%s) denied by rule %q", req.Host, a, v.Rule)}
		}
	}
	e.logVerdict(req, v)
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

// Dial connects to the request's target as its route says: directly (see
// dialDirect), or through the route's upstreams, each tried in the plan's
// order until one opens the tunnel.
func (e *Engine) Dial(ctx context.Context, req *Request) (net.Conn, error) {
	plan, err := e.Route(ctx, req)
	if err != nil {
		return nil, err
	}
	return e.DialPlan(ctx, req, plan)
}

// DialPlan dials req as plan says. Through upstreams, a failure of an
// upstream itself (it refused, timed out, answered 407 or 5xx) takes it
// out for its back-off and the next one is tried, nothing having reached
// the client yet; a failure the upstream reports about the target is
// answered at once. Each upstream gets the whole dial timeout.
func (e *Engine) DialPlan(ctx context.Context, req *Request, plan *Plan) (net.Conn, error) {
	if plan.Direct() {
		return e.dialDirect(ctx, req)
	}
	if plan.down != nil {
		return nil, plan.down
	}
	start := time.Now()
	var tried []string
	var last error
	for _, u := range plan.hops {
		c, err := e.dialHop(ctx, req, u)
		if req.Log != nil {
			req.Log.Upstream = u.name
			req.Log.Dial = time.Since(start)
		}
		if err == nil {
			if req.Log != nil {
				req.Log.Dialed, req.Log.DialFailed = c.RemoteAddr().String(), false
			}
			return c, nil
		}
		if !isUpstreamFault(err) || ctx.Err() != nil {
			return nil, err
		}
		last = err
		tried = append(tried, u.name+": "+unwrapFault(err).Error())
	}
	if len(tried) == 1 {
		return nil, last
	}
	hop, _ := NextHopOf(last)
	return nil, &Error{Kind: KindOf(last), NextHop: hop, Err: fmt.Errorf("every upstream of %s failed: %s", plan.Via, strings.Join(tried, "; "))}
}

// DialUpstream opens a tunnel for req through u alone (one hop of a
// plan), for callers that try a plan's upstreams themselves.
func (e *Engine) DialUpstream(ctx context.Context, req *Request, u *Upstream) (net.Conn, error) {
	return e.dialHop(ctx, req, u)
}

// dialHop opens the tunnel through u. A socks5:// upstream takes
// addresses, so ferry resolves the name and gives it the first address
// the ACL allows.
func (e *Engine) dialHop(ctx context.Context, req *Request, u *Upstream) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.DialTimeout)
	defer cancel()
	target := req.Target()
	if u.ResolvesLocally() {
		if _, err := netip.ParseAddr(req.Host); err != nil {
			ip, err := e.allowedAddr(ctx, req)
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
func (e *Engine) allowedAddr(ctx context.Context, req *Request) (netip.Addr, error) {
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
			e.logVerdict(req, v)
			return a, nil
		}
	}
	e.logVerdict(req, v)
	return netip.Addr{}, &Error{Kind: DeniedIP, Rule: v.Rule, Err: fmt.Errorf("every address of %s denied by rule %q", req.Host, v.Rule)}
}
