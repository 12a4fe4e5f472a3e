package tunnel

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/acl"
)

// Route targets with a meaning of their own.
const (
	ToDirect = "direct" // ferry dials the target itself
	ToEnv    = "env"    // HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY decide
)

// Group policies.
const (
	PolicyFailover    = "failover"          // members in order; the next when one fails
	PolicyRoundRobin  = "round-robin"       // each request starts at the next member
	PolicyLeastConns  = "least-connections" // the member with the fewest open connections first
	defaultRouteName  = "default"
	directRouteNoRule = "direct"
)

// RouteSpec is one [[route]]: requests its matchers hold for go To.
type RouteSpec struct {
	Name  string
	Match *acl.MatchSet // nil matches every request
	To    string        // ToDirect, ToEnv, an upstream's or a group's name
}

// RoutingSpec is everything routing is built from.
type RoutingSpec struct {
	Upstreams []UpstreamSpec
	Groups    []GroupSpec
	Routes    []RouteSpec
	Default   string    // where requests no route matches go; default ToDirect
	Env       *ProxyEnv // the environment's proxies, for ToEnv; nil reads none
}

// Routes is a compiled routing table: ordered rules, first match wins,
// each naming direct, an upstream or a group. It is immutable and lives
// in the Policy, so a reload swaps it at once.
type Routes struct {
	routes    []route
	def       route
	upstreams map[string]*Upstream
	env       *envTarget
}

type route struct {
	name   string
	match  *acl.MatchSet
	to     *group // nil: direct (or env when env is set)
	env    bool
	direct *Plan // the plan of a direct route, shared: no allocation
}

// group is an upstream group, or one upstream alone (a group of one).
type group struct {
	name    string
	members []*Upstream
	policy  string
	next    atomic.Uint64 // round-robin position
}

// NewRoutes builds a routing table from spec.
func NewRoutes(spec RoutingSpec) (*Routes, error) {
	ups := spec.Upstreams
	var env *envTarget
	if usesEnv(spec) {
		var err error
		var envUps []UpstreamSpec
		env, envUps, err = newEnvTarget(spec.Env)
		if err != nil {
			return nil, err
		}
		ups = append(slices.Clone(ups), envUps...)
	}
	byName, err := newUpstreams(ups)
	if err != nil {
		return nil, err
	}
	rt := &Routes{upstreams: byName, env: env}
	if env != nil {
		env.bind(byName)
	}
	targets := map[string]*group{}
	for name, u := range byName {
		targets[name] = &group{name: name, members: []*Upstream{u}, policy: PolicyFailover}
	}
	for _, g := range spec.Groups {
		if _, dup := targets[g.Name]; dup {
			return nil, fmt.Errorf("upstream group %q: the name is taken by an upstream or another group", g.Name)
		}
		grp := &group{name: g.Name, policy: g.Policy}
		switch grp.policy {
		case "":
			grp.policy = PolicyFailover
		case PolicyFailover, PolicyRoundRobin, PolicyLeastConns:
		default:
			return nil, fmt.Errorf("upstream group %q: policy %q: want %s, %s or %s", g.Name, g.Policy, PolicyFailover, PolicyRoundRobin, PolicyLeastConns)
		}
		if len(g.Members) == 0 {
			return nil, fmt.Errorf("upstream group %q has no members", g.Name)
		}
		for _, m := range g.Members {
			u, ok := byName[m]
			if !ok {
				return nil, fmt.Errorf("upstream group %q: member %q: no such upstream", g.Name, m)
			}
			grp.members = append(grp.members, u)
		}
		targets[g.Name] = grp
	}
	build := func(name string, m *acl.MatchSet, to string) (route, error) {
		r := route{name: name, match: m}
		switch to {
		case ToDirect, "":
			r.direct = &Plan{Route: name}
		case ToEnv:
			r.env = true
		default:
			g, ok := targets[to]
			if !ok {
				return r, fmt.Errorf("route %q: %q is not direct, env, an upstream or a group", name, to)
			}
			r.to = g
		}
		return r, nil
	}
	for _, rs := range spec.Routes {
		r, err := build(rs.Name, rs.Match, rs.To)
		if err != nil {
			return nil, err
		}
		rt.routes = append(rt.routes, r)
	}
	if rt.def, err = build(defaultRouteName, nil, spec.Default); err != nil {
		return nil, err
	}
	return rt, nil
}

func usesEnv(spec RoutingSpec) bool {
	if spec.Default == ToEnv {
		return true
	}
	for _, r := range spec.Routes {
		if r.To == ToEnv {
			return true
		}
	}
	return false
}

// Upstreams lists the table's upstreams by name (the environment's
// included), for health and for plain-HTTP transports.
func (rt *Routes) Upstreams() map[string]*Upstream { return rt.upstreams }

// Pick tells where req goes, as Route decides before any dial, for ferry
// explain: the route's name, the upstreams it may try (none: ferry dials
// itself), and needIP when a route matcher needs q's address (q.IP unset):
// pick again with the first address the name resolves to, as Route does.
func (rt *Routes) Pick(req *Request, q *acl.Query) (route string, via []*Upstream, needIP bool) {
	r, needIP := rt.pick(q)
	if needIP {
		return r.name, nil, true
	}
	g := r.to
	if r.env {
		g = rt.env.group(req)
	}
	if g == nil {
		return r.name, nil, false
	}
	return r.name, g.members, false
}

// pick walks the routes in order. A route that would match but for the
// target's address stops the walk with needIP, as an ACL rule does: the
// caller resolves the name and asks again.
func (rt *Routes) pick(q *acl.Query) (r *route, needIP bool) {
	for i := range rt.routes {
		r := &rt.routes[i]
		if r.match == nil {
			return r, false
		}
		switch r.match.Eval(q) {
		case acl.Matches:
			return r, false
		case acl.NeedsIP:
			return r, true
		}
	}
	return &rt.def, false
}

// Plan is where one request goes: the route that matched and the
// upstreams to try, in order. A direct plan has none.
type Plan struct {
	Route string       // the route's name; "default" when none matched, "direct" with no routing table
	Via   string       // the upstream or group; "" direct
	few   [2]*Upstream // backs hops for a group of up to two: no allocation of its own
	hops  []*Upstream
	down  error // every member is down: the answer, without trying
}

// DirectPlan is the plan without a routing table: ferry dials the target
// itself. Reverse mode dials its backends by it, whatever the routes say:
// they are the config's own, not targets clients name.
var DirectPlan = &Plan{Route: directRouteNoRule}

// Direct reports whether ferry dials the target itself.
func (p *Plan) Direct() bool { return p.Via == "" }

// Hops are the upstreams to try, in order.
func (p *Plan) Hops() []*Upstream { return p.hops }

// Down is the error to answer with when every upstream of the plan is
// down, nil otherwise.
func (p *Plan) Down() error { return p.down }

// plan orders g's members for one request: by the group's policy, those
// taken out by their health left out. When every member is out, the plan
// says so with the last failure's kind, and nothing is tried until a
// member's back-off is over.
func (g *group) plan(routeName string) *Plan {
	p := &Plan{Route: routeName, Via: g.name}
	p.hops = p.few[:0] // no second allocation for a group of up to len(few)
	order := g.members
	switch g.policy {
	case PolicyRoundRobin:
		if n := len(order); n > 1 {
			start := int((g.next.Add(1) - 1) % uint64(n))
			order = append(slices.Clone(order[start:]), order[:start]...)
		}
	case PolicyLeastConns:
		if len(order) > 1 {
			order = slices.Clone(order)
			slices.SortStableFunc(order, func(a, b *Upstream) int { return int(a.Open() - b.Open()) })
		}
	}
	for _, u := range order {
		if u.health.available() {
			p.hops = append(p.hops, u)
		}
	}
	if len(p.hops) == 0 {
		p.down = g.downError()
	}
	return p
}

// downError describes a group whose members are all down, with the kind
// of the failure that took out the one due back first.
func (g *group) downError() error {
	var first *Upstream
	var firstAt time.Time
	var why []string
	for _, u := range g.members {
		until, err := u.health.state()
		if err == nil {
			continue
		}
		left := until.Sub(u.health.now()).Round(time.Millisecond)
		why = append(why, fmt.Sprintf("%s: %v (left out for %v more)", u.name, unwrapFault(err), left))
		if first == nil || until.Before(firstAt) {
			first, firstAt = u, until
		}
	}
	if first == nil {
		return &Error{Kind: UpstreamFailed, NextHop: g.name, Err: fmt.Errorf("no upstream of %s is available", g.name)}
	}
	_, last := first.health.state()
	what := "upstream " + g.name + " is down"
	if len(g.members) > 1 {
		what = "every upstream of " + g.name + " is down"
	}
	return &Error{Kind: KindOf(last), NextHop: first.name, Err: fmt.Errorf("%s: %s", what, strings.Join(why, "; "))}
}

func unwrapFault(err error) error {
	var f *upstreamFault
	if errors.As(err, &f) {
		return f.err
	}
	return err
}
