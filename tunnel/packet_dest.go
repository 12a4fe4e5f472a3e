package tunnel

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
)

// setup decides a destination once, before any datagram goes to it: the
// ACL by name (or address), the route, then the way out, which asks the
// ACL again with the address actually used. Datagrams that arrive
// meanwhile wait (packetDest.queue); settle sends them, or drops them.
func (a *Association) setup(d *packetDest) {
	defer a.wg.Done()
	way, out, err := a.open(d)
	a.settle(d, way, out, err)
}

// open authorizes and routes one destination and opens its way out.
func (a *Association) open(d *packetDest) (packetWay, Outcome, error) {
	req := a.req // the client's, for this destination
	if d.addr.Host != "" {
		host, err := CanonicalHost(d.addr.Host)
		if err != nil {
			return nil, Outcome{}, err
		}
		req.Host = host
	} else {
		req.Host = d.addr.AddrPort.Addr().String()
	}
	req.Port = d.addr.Port()
	if req.Port == 0 {
		return nil, Outcome{}, Errorf(BadRequest, "datagram to %s: port 0", req.Host)
	}
	out, err := a.e.Authorize(a.ctx, &req)
	if err != nil {
		return nil, out, err
	}
	plan, out, err := a.e.Route(a.ctx, &req)
	if err != nil {
		return nil, out, err
	}
	if plan.Direct() {
		way, dialed, err := a.directWay(&req)
		return way, out.Then(dialed), err
	}
	if plan.down != nil {
		return nil, out, plan.down
	}
	var way packetWay
	err = Failover(a.ctx, "upstream of "+plan.Via, slices.Values(plan.hops), (*Upstream).Name,
		func(u *Upstream) (bool, error) {
			w, err := a.upstreamWay(&req, u, d, &out)
			out.Upstream = u.name
			if err != nil {
				return isUpstreamFault(err), err
			}
			way = w
			return false, nil
		})
	return way, out, err
}

// upstreamWay opens the way to req's target through u: a SOCKS5
// upstream's own UDP association, shared by every destination routed to
// it (packet_socks.go), or a CONNECT-UDP tunnel of its own through an
// HTTP upstream (packet_masque.go).
func (a *Association) upstreamWay(req *Request, u *Upstream, d *packetDest, out *Outcome) (packetWay, error) {
	ctx, cancel := context.WithTimeout(a.ctx, a.e.cfg.DialTimeout)
	defer cancel()
	if u.IsHTTP() {
		return a.masqueWay(ctx, req, u, d, out)
	}
	return a.socksWay(ctx, req, u, out)
}

// settle ends a destination's setup: its way is ready and the datagrams
// that waited are sent, in order; or it failed and they are dropped.
func (a *Association) settle(d *packetDest, way packetWay, out Outcome, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.out, d.why = out, err
	q := d.queue
	d.queue = nil
	n := 0
	for _, b := range q {
		n += len(b) - PacketHeadroom
	}
	a.mu.Lock()
	a.queued -= n
	a.mu.Unlock()
	if err != nil {
		reason, state := DropUnreachable, uint32(destFailed)
		if k := KindOf(err); k == Denied || k == DeniedIP {
			reason, state = DropDenied, destDenied
			a.denied.Add(1)
		}
		a.dropped[reason].Add(int64(len(q)))
		d.state.Store(state)
		return
	}
	d.way = way
	for _, b := range q {
		a.sendTo(d, b, PacketHeadroom)
	}
	d.state.Store(destReady)
}

// directWay is ferry's own socket to req's target: its address, or the
// first address of its name the ACL allows, IPv4 first (a UDP flow has no
// Happy Eyeballs to fall back with, and IPv4 is what reaches the most).
// Replies are let through from that address only.
func (a *Association) directWay(req *Request) (packetWay, Outcome, error) {
	var out Outcome
	ip, isIP := parseIP(req.Host)
	if !isIP {
		var err error
		if ip, err = a.allowedAddr(req, &out); err != nil {
			return nil, out, err
		}
	}
	to := netip.AddrPortFrom(ip.Unmap(), req.Port)
	out.Dialed = to.String()
	s, err := a.directSocket()
	if err != nil {
		out.DialFailed = true
		return nil, out, err
	}
	a.allowReplies(to)
	return &directWay{conn: s.conn, to: to}, out, nil
}

// allowedAddr resolves req's name under the dial timeout and picks the
// first IPv4 address the ACL allows, else the first IPv6 one.
func (a *Association) allowedAddr(req *Request, out *Outcome) (netip.Addr, error) {
	addrs, err := a.e.lookup(a.ctx, req.Host)
	if err != nil {
		return netip.Addr{}, err
	}
	slices.SortStableFunc(addrs, func(x, y netip.Addr) int {
		switch {
		case x.Is4() == y.Is4():
			return 0
		case x.Is4():
			return -1
		}
		return 1
	})
	q := a.e.query(req)
	acl := a.e.policy.Load().ACL
	for _, ip := range addrs {
		q.IP = ip
		v := acl.Decide(&q)
		out.decided(v.Rule, v.Allow)
		if v.Allow {
			return ip, nil
		}
	}
	return netip.Addr{}, &Error{Kind: DeniedIP, Rule: out.Rule, Err: fmt.Errorf("every address of %s denied by rule %q", req.Host, out.Rule)}
}
