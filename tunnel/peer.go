package tunnel

import (
	"net/url"
)

// NewPeer returns an upstream for a fleet member's listener at addr
// (host:port), to which ferry sends a plain-HTTP request in absolute form
// when that member owns the request's URL in the fleet's shared cache
// (issue 18 item 5). user is the Basic credentials for a listener with
// auth, nil for none. Its health is its own, as an [[upstream]]'s: a
// member that fails is left out for its back-off (2s, doubling to 1m).
func NewPeer(addr string, user *url.Userinfo) (*Upstream, error) {
	return newUpstream(UpstreamSpec{Name: "fleet:" + addr, URL: &url.URL{Scheme: schemeHTTP, Host: addr, User: user}})
}

// PeerPlan is the plan that sends a request through u alone, route
// naming it in the access log; nil while u is left out after a failure.
func (u *Upstream) PeerPlan(route string) *Plan {
	if !u.health.available() {
		return nil
	}
	p := &Plan{Route: route, Via: u.name}
	p.hops = append(p.few[:0], u)
	return p
}
