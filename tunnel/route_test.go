package tunnel_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/tunnel"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func matchSet(t testing.TB, m acl.Match) *acl.MatchSet {
	t.Helper()
	s, err := acl.CompileMatch(m, nil, "UTC", acl.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hopNames(p *tunnel.Plan) string {
	var names []string
	for _, u := range p.Hops() {
		names = append(names, u.Name())
	}
	return strings.Join(names, ",")
}

// A group fails over to its next member for the same request; the member
// that failed is left out for a back-off that doubles while it keeps
// failing; when every member is out the answer comes at once.
func TestGroupFailoverAndBackoff(t *testing.T) {
	echo := echoServer(t)
	good := &httpParent{redirect: echo}
	goodAddr := good.start(t)
	dead := closedPort(t).String()
	clock := newClock()
	rt, err := tunnel.NewRoutes(tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{
			{Name: "dead", URL: parseURL(t, "http://"+dead), Health: tunnel.HealthSpec{Backoff: 2 * time.Second, MaxBackoff: 5 * time.Second}},
			{Name: "good", URL: parseURL(t, "http://"+goodAddr)},
		},
		Groups:  []tunnel.GroupSpec{{Name: "parents", Members: []string{"dead", "good"}}},
		Default: "parents",
	})
	if err != nil {
		t.Fatal(err)
	}
	e := tunnel.New(tunnel.Config{DialTimeout: bound}, nil)
	t.Cleanup(e.Close)
	tunnel.SetClock(e, clock.Now)
	e.SetPolicy(&tunnel.Policy{Routes: rt})

	route := func() *tunnel.Plan {
		t.Helper()
		p, _, err := e.Route(context.Background(), targetOf(t, "origin.test:443"))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if got := hopNames(route()); got != "dead,good" {
		t.Fatalf("first plan %q, want dead,good", got)
	}
	req := targetOf(t, "origin.test:443")
	c, out, err := e.Open(context.Background(), req)
	if err != nil {
		t.Fatalf("Dial with a dead first member: %v", err)
	}
	echoes(t, c)
	c.Close()
	if out.Upstream != "good" || out.Route != "default" {
		t.Errorf("log upstream %q route %q, want good, default", out.Upstream, out.Route)
	}
	steps := []struct {
		advance time.Duration
		want    string
	}{
		{0, "good"},                       // dead is out for 2s
		{1999 * time.Millisecond, "good"}, // still out
		{time.Millisecond, "dead,good"},   // back on trial
	}
	for _, s := range steps {
		clock.Advance(s.advance)
		if got := hopNames(route()); got != s.want {
			t.Fatalf("after %v more: plan %q, want %q", s.advance, got, s.want)
		}
	}
	// It fails again: out for twice as long.
	c, out, err = e.Open(context.Background(), targetOf(t, "origin.test:443"))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	clock.Advance(3999 * time.Millisecond)
	if got := hopNames(route()); got != "good" {
		t.Fatalf("second back-off: plan %q, want good", got)
	}
	clock.Advance(time.Millisecond)
	if got := hopNames(route()); got != "dead,good" {
		t.Fatalf("after the second back-off: plan %q, want dead,good", got)
	}
}

func TestGroupAllDown(t *testing.T) {
	clock := newClock()
	rt, err := tunnel.NewRoutes(tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{
			{Name: "a", URL: parseURL(t, "http://"+closedPort(t).String())},
			{Name: "b", URL: parseURL(t, "http://"+closedPort(t).String())},
		},
		Groups:  []tunnel.GroupSpec{{Name: "parents", Members: []string{"a", "b"}}},
		Default: "parents",
	})
	if err != nil {
		t.Fatal(err)
	}
	e := tunnel.New(tunnel.Config{DialTimeout: bound}, nil)
	t.Cleanup(e.Close)
	tunnel.SetClock(e, clock.Now)
	e.SetPolicy(&tunnel.Policy{Routes: rt})

	_, _, err = e.Open(context.Background(), targetOf(t, "origin.test:443"))
	if k := tunnel.KindOf(err); k != tunnel.Refused || !strings.Contains(err.Error(), "every upstream of parents failed") ||
		!strings.Contains(err.Error(), "a: ") || !strings.Contains(err.Error(), "b: ") {
		t.Fatalf("first Dial: %v (kind %v), want Refused naming a and b", err, k)
	}
	req := targetOf(t, "origin.test:443")
	_, out, err := e.Open(context.Background(), req)
	if k := tunnel.KindOf(err); k != tunnel.Refused || !strings.Contains(err.Error(), "every upstream of parents is down") {
		t.Fatalf("second Dial: %v (kind %v), want Refused, every upstream down", err, k)
	}
	if hop, _ := tunnel.NextHopOf(err); hop != "a" && hop != "b" {
		t.Errorf("next hop %q, want a member", hop)
	}
	if out.Upstream != "parents" {
		t.Errorf("log upstream %q, want the group", out.Upstream)
	}
}

func TestGroupPolicies(t *testing.T) {
	echo := echoServer(t)
	a := &httpParent{redirect: echo}
	b := &httpParent{redirect: echo}
	aAddr, bAddr := a.start(t), b.start(t)
	for _, policy := range []string{tunnel.PolicyRoundRobin, tunnel.PolicyLeastConns} {
		t.Run(policy, func(t *testing.T) {
			e, _ := engineWith(t, tunnel.Config{DialTimeout: bound}, tunnel.RoutingSpec{
				Upstreams: []tunnel.UpstreamSpec{
					{Name: "a", URL: parseURL(t, "http://"+aAddr)},
					{Name: "b", URL: parseURL(t, "http://"+bAddr)},
				},
				Groups:  []tunnel.GroupSpec{{Name: "g", Members: []string{"a", "b"}, Policy: policy}},
				Default: "g",
			})
			var used []string
			var open []net.Conn
			for range 4 {
				req := targetOf(t, "origin.test:443")
				c, out, err := e.Open(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				used = append(used, out.Upstream)
				open = append(open, c) // held: least-connections sees them
			}
			for _, c := range open {
				c.Close()
			}
			// Round-robin alternates; least-connections takes the member
			// with fewer open conns, ties in order: a, b, a, b as well.
			if got := strings.Join(used, ","); got != "a,b,a,b" {
				t.Errorf("members used %s, want a,b,a,b", got)
			}
		})
	}
	// Least-connections counts conns until they close.
	e, rt := engineWith(t, tunnel.Config{DialTimeout: bound}, tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{{Name: "a", URL: parseURL(t, "http://"+aAddr)}, {Name: "b", URL: parseURL(t, "http://"+bAddr)}},
		Groups:    []tunnel.GroupSpec{{Name: "g", Members: []string{"a", "b"}, Policy: tunnel.PolicyLeastConns}},
		Default:   "g",
	})
	var last string
	for range 3 {
		req := targetOf(t, "origin.test:443")
		c, out, err := e.Open(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		c.Close() // closed at once: a stays least loaded
		last = out.Upstream
	}
	if last != "a" || rt.Upstreams()["a"].Open() != 0 {
		t.Errorf("with every conn closed: used %s, a has %d open; want a, 0", last, rt.Upstreams()["a"].Open())
	}
}

// Routes pick by the ACL's matchers; a matcher on addresses makes ferry
// resolve the name, but the upstream is still given the name.
func TestRoutesPick(t *testing.T) {
	echo := echoServer(t)
	p := &httpParent{redirect: echo}
	pAddr := p.start(t)
	_, echoPort, _ := net.SplitHostPort(echo)
	e, _ := engineWith(t, tunnel.Config{DialTimeout: bound}, tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{{Name: "corp", URL: parseURL(t, "http://"+pAddr)}},
		Routes: []tunnel.RouteSpec{
			{Name: "intranet", Match: matchSet(t, acl.Match{Domain: acl.Values{".corp.test"}}), To: "corp"},
			{Name: "loopback-names", Match: matchSet(t, acl.Match{IP: acl.Values{"127.0.0.0/8", "::1"}, Domain: acl.Values{"localhost"}}), To: "corp"},
			{Name: "socks-direct", Match: matchSet(t, acl.Match{Proto: acl.Values{"socks"}}), To: "direct"},
		},
	})
	tests := []struct {
		name, target, proto string
		route, upstream     string
		seen                string // what the upstream was asked for; "" not asked
	}{
		{"domain to the upstream", "wiki.corp.test:443", tunnel.ProtoConnect, "intranet", "corp", "wiki.corp.test:443"},
		{"address rule, name handed on", "localhost:" + echoPort, tunnel.ProtoConnect, "loopback-names", "corp", "localhost:" + echoPort},
		{"the rest direct", echo, tunnel.ProtoConnect, "default", "", ""},
		{"proto rule direct", echo, tunnel.ProtoSOCKS, "socks-direct", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := targetOf(t, tt.target)
			req.Proto = tt.proto
			c, out, err := e.Open(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			echoes(t, c)
			if out.Route != tt.route || out.Upstream != tt.upstream {
				t.Errorf("log route %q upstream %q, want %q %q", out.Route, out.Upstream, tt.route, tt.upstream)
			}
			if tt.seen != "" {
				if got := <-p.seen; got != tt.seen {
					t.Errorf("upstream asked for %q, want %q", got, tt.seen)
				}
			}
		})
	}
	// Reverse mode dials its backends by DirectPlan: a backend the
	// loopback-names route would send to corp is dialed directly.
	t.Run("direct plan", func(t *testing.T) {
		req := targetOf(t, "localhost:"+echoPort)
		req.Proto = tunnel.ProtoTCP
		c, out, err := e.Dial(context.Background(), req, tunnel.DirectPlan)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		echoes(t, c)
		if out.Upstream != "" || out.Dialed == "" {
			t.Errorf("upstream %q dialed %q, want direct", out.Upstream, out.Dialed)
		}
		select {
		case got := <-p.seen:
			t.Errorf("the upstream was asked for %q", got)
		default:
		}
	})
}

// Through an upstream, an ACL verdict that needs the address is taken
// here on every address of the name; a denied one denies the request
// before the upstream is asked.
func TestRouteChecksAddressesForTheACL(t *testing.T) {
	p := &httpParent{redirect: echoServer(t)}
	pAddr := p.start(t)
	rt, err := tunnel.NewRoutes(tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{{Name: "corp", URL: parseURL(t, "http://"+pAddr)}},
		Default:   "corp",
	})
	if err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int64
	e := tunnel.New(tunnel.Config{DialTimeout: bound}, &tunnel.Policy{Routes: rt, ACL: decideFunc(func(q *acl.Query) acl.Verdict {
		if q.Host == "" {
			return acl.Verdict{Allow: true, Rule: "ip-literal"}
		}
		if !q.IP.IsValid() {
			return acl.Verdict{NeedIP: true, Rule: "no-loopback"}
		}
		asked.Add(1)
		return acl.Verdict{Allow: !q.IP.IsLoopback(), Rule: "no-loopback"}
	})})
	t.Cleanup(e.Close)
	req := targetOf(t, "localhost:443")
	if _, err := e.Authorize(context.Background(), req); err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	_, out, err := e.Open(context.Background(), req)
	if k := tunnel.KindOf(err); k != tunnel.DeniedIP || tunnel.RuleOf(err) != "no-loopback" {
		t.Fatalf("Dial = %v (kind %v), want DeniedIP by no-loopback", err, k)
	}
	if asked.Load() == 0 || out.Decision != "deny" {
		t.Errorf("ACL asked %d times with an address, decision %q", asked.Load(), out.Decision)
	}
	select {
	case got := <-p.seen:
		t.Errorf("the upstream was asked for %q after the ACL denied", got)
	default:
	}
}

func TestRouteEnv(t *testing.T) {
	echo := echoServer(t)
	p := &httpParent{redirect: echo}
	pAddr := p.start(t)
	env := map[string]string{
		"HTTPS_PROXY": "http://" + pAddr,
		"no_proxy":    "skip.test,10.0.0.0/8",
	}
	e, _ := engineWith(t, tunnel.Config{DialTimeout: bound}, tunnel.RoutingSpec{
		Default: tunnel.ToEnv,
		Env:     tunnel.ProxyEnvFrom(func(k string) string { return env[k] }),
	})
	tests := []struct {
		name, target, proto string
		upstream            string
	}{
		{"tunnel through HTTPS_PROXY", "far.test:443", tunnel.ProtoConnect, "HTTPS_PROXY"},
		{"NO_PROXY name", "skip.test:443", tunnel.ProtoConnect, ""},
		{"NO_PROXY network", "10.1.2.3:443", tunnel.ProtoConnect, ""},
		{"plain HTTP: no HTTP_PROXY set", "far.test:80", tunnel.ProtoHTTP, ""},
		{"loopback never proxied", echo, tunnel.ProtoConnect, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := targetOf(t, tt.target)
			req.Proto = tt.proto
			plan, _, err := e.Route(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if plan.Via != tt.upstream || plan.Route != "default" {
				t.Errorf("plan via %q route %q, want %q default", plan.Via, plan.Route, tt.upstream)
			}
		})
	}
	c, _, err := e.Open(context.Background(), targetOf(t, "far.test:443"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echoes(t, c)

	all := tunnel.ProxyEnvFrom(func(k string) string {
		return map[string]string{"ALL_PROXY": "socks5h://127.0.0.1:1080", "http_proxy": "proxy:3128"}[k]
	})
	if all.HTTPS != "socks5h://127.0.0.1:1080" || all.HTTPSFrom != "ALL_PROXY" || all.HTTP != "proxy:3128" || all.HTTPFrom != "http_proxy" {
		t.Errorf("ProxyEnvFrom = %+v", all)
	}
	rt, err := tunnel.NewRoutes(tunnel.RoutingSpec{Default: tunnel.ToEnv, Env: all})
	if err != nil {
		t.Fatal(err)
	}
	if u := rt.Upstreams()["http_proxy"]; u == nil || u.Addr() != "proxy:80" && u.Addr() != "proxy:3128" {
		t.Errorf("http_proxy upstream %v", u)
	}
}

// A reload keeps the health of an upstream it does not change, and a
// changed one starts afresh.
func TestHealthSurvivesReload(t *testing.T) {
	dead := closedPort(t).String()
	spec := func(url string) tunnel.RoutingSpec {
		return tunnel.RoutingSpec{Upstreams: []tunnel.UpstreamSpec{{Name: "corp", URL: parseURL(t, url)}}, Default: "corp"}
	}
	e, rt := engineWith(t, tunnel.Config{DialTimeout: bound}, spec("http://"+dead))
	e.Open(context.Background(), targetOf(t, "origin.test:443"))
	if rt.Upstreams()["corp"].Available() {
		t.Fatal("not down after a refusal")
	}
	same, _ := tunnel.NewRoutes(spec("http://" + dead))
	e.SetPolicy(&tunnel.Policy{Routes: same})
	if same.Upstreams()["corp"].Available() {
		t.Error("an unchanged upstream came back on reload")
	}
	changed, _ := tunnel.NewRoutes(spec("http://u:p@" + dead))
	e.SetPolicy(&tunnel.Policy{Routes: changed})
	if !changed.Upstreams()["corp"].Available() {
		t.Error("an upstream with a new url kept the old one's health")
	}
}

// An active check brings a down upstream back without a client paying for
// the trial; it runs on the injected ticker.
func TestActiveCheckBringsUpstreamBack(t *testing.T) {
	echo := echoServer(t)
	var broken atomic.Bool
	broken.Store(true)
	served := make(chan bool, 8) // whether each request found it broken
	parent := serveLoopback(t, loopbackListener(t), func(c net.Conn) {
		b := broken.Load()
		served <- b
		if b {
			answerWith(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
			return
		}
		(&httpParent{redirect: echo}).serve(c)
	})
	rt, err := tunnel.NewRoutes(tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{{Name: "corp", URL: parseURL(t, "http://"+parent),
			Health: tunnel.HealthSpec{Probe: "probe.test:443", Interval: time.Hour, Backoff: time.Hour}}},
		Default: "corp",
	})
	if err != nil {
		t.Fatal(err)
	}
	e := tunnel.New(tunnel.Config{DialTimeout: bound}, nil)
	t.Cleanup(e.Close)
	ticks := make(chan time.Time)
	tunnel.SetTicker(e, func(d time.Duration) (<-chan time.Time, func()) {
		if d != time.Hour {
			t.Errorf("checker interval %v, want 1h", d)
		}
		return ticks, func() {}
	})
	events := make(chan tunnel.UpstreamEvent, 8)
	e.SetUpstreamLog(func(ev tunnel.UpstreamEvent) { events <- ev })
	e.SetPolicy(&tunnel.Policy{Routes: rt})

	if _, _, err := e.Open(context.Background(), targetOf(t, "origin.test:443")); tunnel.KindOf(err) != tunnel.UpstreamFailed {
		t.Fatalf("Dial to a broken upstream: %v", err)
	}
	if ev := recvEvent(t, events); ev.Up || ev.Name != "corp" || !strings.Contains(ev.Reason, "503") || ev.For != time.Hour {
		t.Fatalf("event %+v, want corp down for 1h with the 503", ev)
	}
	<-served
	// Two checks while still broken; the second tick is taken only once
	// the first check is over, so its result can be looked at.
	ticks <- time.Now()
	ticks <- time.Now()
	if rt.Upstreams()["corp"].Available() {
		t.Fatal("available after a failed check")
	}
	select {
	case ev := <-events:
		t.Fatalf("event %+v after a failed check of an upstream already down", ev)
	default:
	}
	for range 2 {
		if !<-served {
			t.Fatal("a check did not find the upstream broken")
		}
	}
	broken.Store(false)
	ticks <- time.Now()
	if ev := recvEvent(t, events); !ev.Up || ev.Name != "corp" {
		t.Fatalf("event %+v, want corp up", ev)
	}
	if !rt.Upstreams()["corp"].Available() {
		t.Error("not available after a good check")
	}
}

func answerWith(c net.Conn, answer string) {
	buf := make([]byte, 4096)
	c.Read(buf)
	c.Write([]byte(answer))
}

func recvEvent(t testing.TB, ch <-chan tunnel.UpstreamEvent) tunnel.UpstreamEvent {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(bound):
		t.Fatal("no upstream event")
		return tunnel.UpstreamEvent{}
	}
}

// BenchmarkRoute: the route decision for a name a domain route sends to
// an upstream and for one that falls through to the default, next to no
// routes at all. None allocates.
func BenchmarkRoute(b *testing.B) {
	spec := tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{{Name: "corp", URL: parseURL(b, "http://127.0.0.1:3128")}},
		Routes: []tunnel.RouteSpec{
			{Name: "intranet", Match: matchSet(b, acl.Match{Domain: acl.Values{".corp.test"}}), To: "corp"},
			{Name: "socks-direct", Match: matchSet(b, acl.Match{Proto: acl.Values{"socks"}}), To: "direct"},
		},
	}
	routed, _ := engineWith(b, tunnel.Config{}, spec)
	plain := tunnel.New(tunnel.Config{}, nil)
	b.Cleanup(plain.Close)
	for _, bc := range []struct {
		name, host string
		e          *tunnel.Engine
	}{
		{"no-routes-baseline", "example.com", plain},
		{"domain-route", "wiki.corp.test", routed},
		{"default-route", "example.com", routed},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := &tunnel.Request{Proto: tunnel.ProtoConnect, Client: netip.MustParseAddrPort("127.0.0.1:5000"),
				Host: bc.host, Port: 443}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := bc.e.Route(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
