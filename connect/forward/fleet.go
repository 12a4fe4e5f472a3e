package forward

import (
	"net/http"
	"net/url"
	"sync"

	"github.com/ferry-proxy/ferry/tunnel"
)

// The fleet's shared cache (issue 18 item 5): each cacheable URL has one
// owner among the fleet's members (Owners, rendezvous hashing), which
// alone stores it. A member that does not own a URL sends the request to
// the owner's listener in absolute form, as to an HTTP [[upstream]], and
// stores nothing itself, so N members hold N times the distinct objects.
// The request carries FleetHopHeader: a member that receives it serves
// the request itself whatever its own view of the owners (which may
// differ for a moment while members come and go), so a request crosses at
// most one member to another. An owner that cannot be reached is left
// out for its back-off and the request is served here, from the origin.

// FleetHopHeader marks a request a fleet member sent on to the URL's
// owner. It is removed before the request goes further.
const FleetHopHeader = "Ferry-Fleet-Hop"

// Owners says which member owns a URL: its peer address, and whether it
// is this member; fleet.Ring fits.
type Owners interface {
	Owner(key string) (addr string, self bool)
}

// peers are the Forwarder's upstreams for the fleet's members.
type peers struct {
	owners Owners
	user   *url.Userinfo
	mu     sync.Mutex
	by     map[string]*tunnel.Upstream // by peer address; members come and go, their health stays
}

// SetFleet makes the cache shared with the fleet's members: owners says
// which member owns a URL, user is what this member logs in to the
// others' listeners with (nil: they ask for none). Call before serving.
func (f *Forwarder) SetFleet(owners Owners, user *url.Userinfo) {
	f.peers = &peers{owners: owners, user: user, by: map[string]*tunnel.Upstream{}}
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

// upstream is the member at addr as an upstream, made on first use.
func (p *peers) upstream(addr string) *tunnel.Upstream {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.by[addr]
	if u == nil {
		var err error
		if u, err = tunnel.NewPeer(addr, p.user); err != nil {
			return nil // not host:port: Owners gave nonsense; served here
		}
		p.by[addr] = u
	}
	return u
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
	r.Header.Set(FleetHopHeader, "1")
	res, err := f.client.RoundTrip(r) // not stored here: the owner stores it
	if err == nil {
		return res, nil
	}
	if r.Context().Err() != nil {
		return nil, err
	}
	// The owner failed (it is left out now): a GET or HEAD without a
	// body is served here instead, as if this member owned it.
	rt.plan = own
	r.Header.Del(FleetHopHeader)
	rt.mu.Lock()
	rt.out.Upstream, rt.out.Route = "", own.Route // served here, as routed
	rt.mu.Unlock()
	return f.next.RoundTrip(r)
}
