package forward

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/ferry-proxy/ferry/tunnel"
)

// The fleet's shared cache (issue 18 item 5): each cacheable URL has one
// owner among the fleet's members (Owners, rendezvous hashing), which
// alone stores it. A member that does not own a URL sends the request to
// the owner's listener in absolute form, as to an HTTP [[upstream]], and
// stores nothing itself, so N members hold N times the distinct objects.
// The request carries FleetHopHeader: a member that receives it on its
// fleet listener from a member's address serves the request itself
// whatever its own view of the owners (which may differ for a moment while
// members come and go), so a request crosses at most one member to
// another, and does not count it again against the [[limit]] rules (the
// member that sent it did). The header names the member's client and
// user, as whom the owner authorizes and routes the request
// (memberClient): its address rules and its route, and so the stored
// responses that may answer it, are the client's. Anywhere else the
// header is removed and not believed. An owner that cannot be reached is left out for its back-off
// and the request is served here, from the origin; so is one the owner
// refused (its own 403, 407, 429 or 503): the client is answered as this
// member decided, not with another member's refusal.
//
// A loop guard that holds whatever the routes say (a member's route whose
// upstream is another member, through the balancer, say): each member
// adds its token, a random mark of the process, to the Via of the requests
// it sends on (RFC 9110 §7.6.3: Via is there to find loops), and answers
// a request whose Via holds its own token with 508 (Kind Loop).

// FleetHopHeader marks a request a fleet member sent on to the URL's
// owner. It is removed before the request goes further.
const FleetHopHeader = "Ferry-Fleet-Hop"

// Owners says which member owns a URL: its peer address, and whether it
// is this member; which addresses are members'; and who the members are.
// fleet.Ring fits.
type Owners interface {
	Owner(key string) (addr string, self bool)
	IsMember(ip netip.Addr) bool
	Members() []string
	Self() string
}

// peers are the Forwarder's upstreams for the fleet's members.
type peers struct {
	owners   Owners
	user     *url.Userinfo
	listener string // the listener the members send each other requests on
	token    string // this member's mark in Via: "(ferry-member 0123456789abcdef)"
	mu       sync.Mutex
	by       map[string]*tunnel.Upstream // by peer address, the current members' only
}

// SetFleet makes the cache shared with the fleet's members: owners says
// which member owns a URL, user is what this member logs in to the
// others' listeners with (nil: they ask for none), listener is the
// listener they send it requests on. Call before serving.
func (f *Forwarder) SetFleet(owners Owners, user *url.Userinfo, listener string) {
	// Random, not derived from the member's address: only this process
	// has to know it again, and origins see it too.
	token := fmt.Sprintf("(ferry-member %016x)", rand.Uint64())
	f.peers = &peers{owners: owners, user: user, listener: listener, token: token, by: map[string]*tunnel.Upstream{}}
	f.reqVia11 = f.via11 + " " + token
}

// FromMember reports whether r, from client, was sent on by a fleet
// member: it carries FleetHopHeader, came on the fleet's listener, and
// from a member's address. Such a request is served here whoever owns
// it, and was admitted by the [[limit]] rules on the member.
func (f *Forwarder) FromMember(r *http.Request, client netip.AddrPort) bool {
	p := f.peers
	return p != nil && r.Header.Get(FleetHopHeader) != "" &&
		tunnel.ListenerOf(r.Context()) == p.listener && p.owners.IsMember(client.Addr())
}

// ownerPlan is the plan to the member that owns r's URL when that is
// another member and r is for the shared cache (GET or HEAD of an http
// URL, not sent on by a member already); nil: r is served here.
func (f *Forwarder) ownerPlan(r *http.Request, fromMember bool) *tunnel.Plan {
	p := f.peers
	if p == nil || f.cache == nil || fromMember || r.URL.Scheme != "http" ||
		r.Method != http.MethodGet && r.Method != http.MethodHead {
		return nil
	}
	addr, self := p.owners.Owner(r.URL.String())
	if self {
		return nil
	}
	u := p.upstream(addr)
	if u == nil {
		return nil
	}
	return u.PeerPlan("fleet")
}

// upstream is the member at addr as an upstream, made on first use; the
// upstreams of members no longer in the list go then, so there are no
// more than members (with their health while they stay).
func (p *peers) upstream(addr string) *tunnel.Upstream {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.by[addr]
	if u == nil {
		var err error
		if u, err = tunnel.NewPeer(addr, p.user); err != nil {
			return nil // not host:port: Owners gave nonsense; served here
		}
		members := p.owners.Members()
		for a := range p.by {
			if !slices.Contains(members, a) {
				delete(p.by, a)
			}
		}
		p.by[addr] = u
	}
	return u
}

// size is how many member upstreams are kept.
func (p *peers) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.by)
}

// roundTrip sends r to the URL's owner when another member owns it, else
// (or when the owner fails before answering) through the cache here.
func (f *Forwarder) roundTrip(r *http.Request, rt *route, fromMember bool) (*http.Response, error) {
	plan := f.ownerPlan(r, fromMember)
	if plan == nil {
		return f.next.RoundTrip(r)
	}
	own := rt.plan
	rt.plan = plan
	rt.note(tunnel.Outcome{Route: plan.Route})
	r.Header.Set(FleetHopHeader, fleetHop(rt.req))
	res, err := f.client.RoundTrip(r) // not stored here: the owner stores it
	if err == nil && !ownerRefused(res) {
		return res, nil
	}
	if err == nil {
		res.Body.Close()
	} else if r.Context().Err() != nil {
		return nil, err
	}
	// The owner failed (it is left out now) or refused this member: a
	// GET or HEAD without a body is served here instead, as if this
	// member owned it.
	rt.plan = own
	r.Header.Del(FleetHopHeader)
	rt.mu.Lock()
	rt.out.Upstream, rt.out.Route = "", own.Route // served here, as routed
	rt.mu.Unlock()
	return f.next.RoundTrip(r)
}

// fleetHop is FleetHopHeader's value for req: the client and user the
// request is for, so that the owner routes it, and applies its address
// rules (on its dial and on a hit), as for them, not for the member
// (memberClient).
func fleetHop(req *tunnel.Request) string {
	return url.Values{"client": {req.Client.String()}, "user": {req.User}}.Encode()
}

// memberClient is the request as the owner serves it. A member's request
// (fromMember) is for the member's client, named in FleetHopHeader: it
// is authorized and routed as theirs, so that the route (and with it the
// cache's route) and the ACL's address rules are the client's own, as on
// the member (the fleet shares one config). The member itself passed
// this member's ACL and logins as the client of the fleet listener. A
// hop that names no client (a member of an older ferry) is the member's.
func (f *Forwarder) memberClient(r *http.Request, req *tunnel.Request, fromMember bool) (*tunnel.Request, error) {
	if !fromMember {
		return req, nil
	}
	v, err := url.ParseQuery(r.Header.Get(FleetHopHeader))
	if err != nil || !v.Has("client") {
		return req, nil
	}
	client, err := netip.ParseAddrPort(v.Get("client"))
	if err != nil {
		return nil, tunnel.Errorf(tunnel.BadRequest, "%s: bad client %q", FleetHopHeader, v.Get("client"))
	}
	who := *req
	who.Client, who.User = client, v.Get("user")
	if _, err := f.engine.Authorize(r.Context(), &who); err != nil {
		return nil, err
	}
	return &who, nil
}

// ownerRefused reports an owner's own refusal of a member's request (its
// ACL, its login, a limit, its connection cap), which is no answer for
// the client: ferry's refusals carry a Proxy-Status of ferry's, without
// the received-status of a parent's answer passed on (passFailure).
func ownerRefused(res *http.Response) bool {
	switch res.StatusCode {
	case http.StatusForbidden, http.StatusProxyAuthRequired, http.StatusTooManyRequests, http.StatusServiceUnavailable:
		ps := res.Header.Get("Proxy-Status")
		return strings.HasPrefix(ps, "ferry;") && !strings.Contains(ps, "received-status=")
	}
	return false
}
