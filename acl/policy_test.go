package acl

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// monday10 is a Monday, 10:00 UTC.
var monday10 = time.Date(2024, 6, 3, 10, 0, 0, 0, time.UTC)

func mustCompile(t testing.TB, cfg Config, env Env) *Policy {
	t.Helper()
	p, err := Compile(cfg, env)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            bool
	}{
		{"lower and trailing dot", "Example.COM.", "example.com", false},
		{"idn to punycode", "bücher.example", "xn--bcher-kva.example", false},
		{"idn upper case", "BÜCHER.example", "xn--bcher-kva.example", false},
		{"punycode kept", "xn--bcher-kva.example", "xn--bcher-kva.example", false},
		{"underscore allowed", "_srv.example", "_srv.example", false},
		{"not UTF-8", "\xff\xfe.example", "", true},
		{"replacement character", "\ufffd.example", "", true},
		{"empty", "", "", true},
		{"only dot", ".", "", true},
		{"empty label", "a..b", "", true},
		{"space", "a b.example", "", true},
		{"slash", "a/b", "", true},
		{"label too long", strings.Repeat("a", 64) + ".example", "", true},
		{"name too long", strings.Repeat("a.", 127) + "ab", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeName(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("NormalizeName(%q) = %q, %v; want %q, err %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

// TestMatchers checks every matcher alone: a rule with it and an allow
// action, against queries that must match (yes), not match (no) or need
// the address (unknown).
func TestMatchers(t *testing.T) {
	base := Query{Host: "www.example.com", Port: 443, Proto: "connect", Method: "CONNECT",
		Client: ip("192.0.2.10"), Time: monday10}
	with := func(f func(q *Query)) Query { q := base; f(&q); return q }
	env := Env{Groups: map[string][]string{"staff": {"alice", "bob"}}}
	tests := []struct {
		name string
		m    Match
		q    Query
		want tri
	}{
		{"domain exact yes", Match{Domain: Values{"www.example.com"}}, base, yes},
		{"domain exact case and dot", Match{Domain: Values{"WWW.Example.com."}}, base, yes},
		{"domain exact no parent", Match{Domain: Values{"example.com"}}, base, no},
		{"domain exact no child", Match{Domain: Values{"www.example.com"}}, with(func(q *Query) { q.Host = "a.www.example.com" }), no},
		{"domain suffix below", Match{Domain: Values{".example.com"}}, base, yes},
		{"domain suffix itself", Match{Domain: Values{".example.com"}}, with(func(q *Query) { q.Host = "example.com" }), yes},
		{"domain suffix not lookalike", Match{Domain: Values{".example.com"}}, with(func(q *Query) { q.Host = "badexample.com" }), no},
		{"domain wildcard below", Match{Domain: Values{"*.example.com"}}, base, yes},
		{"domain wildcard deep", Match{Domain: Values{"*.example.com"}}, with(func(q *Query) { q.Host = "a.b.example.com" }), yes},
		{"domain wildcard not itself", Match{Domain: Values{"*.example.com"}}, with(func(q *Query) { q.Host = "example.com" }), no},
		{"domain idn rule, punycode host", Match{Domain: Values{"bücher.example"}}, with(func(q *Query) { q.Host = "xn--bcher-kva.example" }), yes},
		{"domain vs ip literal", Match{Domain: Values{".example.com"}}, with(func(q *Query) { q.Host = ""; q.IP = ip("192.0.2.1") }), no},
		{"domain regex yes", Match{DomainRegex: Values{`^w+\.example\.`}}, base, yes},
		{"domain regex no", Match{DomainRegex: Values{`^ads[0-9]*\.`}}, base, no},
		{"ip unknown", Match{IP: Values{"10.0.0.0/8"}}, base, unknown},
		{"ip v4 yes", Match{IP: Values{"10.0.0.0/8"}}, with(func(q *Query) { q.IP = ip("10.1.2.3") }), yes},
		{"ip v4 no", Match{IP: Values{"10.0.0.0/8"}}, with(func(q *Query) { q.IP = ip("11.1.2.3") }), no},
		{"ip bare address", Match{IP: Values{"169.254.169.254"}}, with(func(q *Query) { q.IP = ip("169.254.169.254") }), yes},
		{"ip v6 yes", Match{IP: Values{"fe80::/10"}}, with(func(q *Query) { q.IP = ip("fe80::1") }), yes},
		{"ip v6 no for v4", Match{IP: Values{"fe80::/10"}}, with(func(q *Query) { q.IP = ip("10.0.0.1") }), no},
		{"ip zoned link-local", Match{IP: Values{"fe80::/10"}}, with(func(q *Query) { q.IP = ip("fe80::1%eth0") }), yes},
		{"ip mapped query vs v4 rule", Match{IP: Values{"127.0.0.0/8"}}, with(func(q *Query) { q.IP = ip("::ffff:127.0.0.1") }), yes},
		{"ip mapped rule vs v4 query", Match{IP: Values{"::ffff:10.0.0.0/104"}}, with(func(q *Query) { q.IP = ip("10.9.9.9") }), yes},
		{"ip ::/0 covers v4", Match{IP: Values{"::/0"}}, with(func(q *Query) { q.IP = ip("8.8.8.8") }), yes},
		{"port single", Match{Port: Values{"443"}}, base, yes},
		{"port range", Match{Port: Values{"80", "400-500"}}, base, yes},
		{"port range edge", Match{Port: Values{"1-442"}}, base, no},
		{"client yes", Match{Client: Values{"192.0.2.0/24"}}, base, yes},
		{"client no", Match{Client: Values{"198.51.100.0/24"}}, base, no},
		{"client mapped", Match{Client: Values{"192.0.2.0/24"}}, with(func(q *Query) { q.Client = ip("::ffff:192.0.2.10") }), yes},
		{"client zoned link-local", Match{Client: Values{"fe80::/10"}}, with(func(q *Query) { q.Client = ip("fe80::1%eth0") }), yes},
		{"client unknown is no", Match{Client: Values{"0.0.0.0/0"}}, with(func(q *Query) { q.Client = netip.Addr{} }), no},
		{"user yes", Match{User: Values{"alice"}}, with(func(q *Query) { q.User = "alice" }), yes},
		{"user case sensitive", Match{User: Values{"alice"}}, with(func(q *Query) { q.User = "Alice" }), no},
		{"user anonymous", Match{User: Values{"alice"}}, base, no},
		{"group member", Match{Group: Values{"staff"}}, with(func(q *Query) { q.User = "bob" }), yes},
		{"group non member", Match{Group: Values{"staff"}}, with(func(q *Query) { q.User = "eve" }), no},
		{"proto yes", Match{Proto: Values{"connect", "socks"}}, base, yes},
		{"proto no", Match{Proto: Values{"http"}}, base, no},
		{"proto udp", Match{Proto: Values{"udp"}}, with(func(q *Query) { q.Proto = "udp" }), yes},
		{"proto udp is not socks", Match{Proto: Values{"socks"}}, with(func(q *Query) { q.Proto = "udp" }), no},
		{"method yes", Match{Method: Values{"get", "POST"}}, with(func(q *Query) { q.Method = "GET" }), yes},
		{"method no", Match{Method: Values{"GET"}}, base, no},
		{"time inside", Match{Time: Values{"09:00-17:00"}}, base, yes},
		{"time end excluded", Match{Time: Values{"08:00-10:00"}}, base, no},
		{"time across midnight", Match{Time: Values{"22:00-06:00"}}, with(func(q *Query) { q.Time = monday10.Add(-7 * time.Hour) }), yes},
		{"time across midnight outside", Match{Time: Values{"22:00-06:00"}}, base, no},
		{"weekday range", Match{Weekday: Values{"mon-fri"}}, base, yes},
		{"weekday no", Match{Weekday: Values{"sat", "sunday"}}, base, no},
		{"weekday wrapping range", Match{Weekday: Values{"fri-mon"}}, base, yes},
		{"all hold", Match{Domain: Values{".example.com"}, Port: Values{"443"}, Proto: Values{"connect"}}, base, yes},
		{"one fails", Match{Domain: Values{".example.com"}, Port: Values{"80"}}, base, no},
		{"no beats unknown", Match{IP: Values{"10.0.0.0/8"}, Port: Values{"80"}}, base, no},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, Config{Timezone: "UTC", Rules: []RuleConfig{{Name: "r", Action: "allow", Match: tt.m}}}, env)
			q := tt.q
			if got := p.rules[0].eval(&q); got != tt.want {
				t.Fatalf("eval = %v, want %v", got, tt.want)
			}
			// Under not, one matcher's yes and no swap and unknown stays.
			np := mustCompile(t, Config{Timezone: "UTC", Rules: []RuleConfig{{Name: "r", Action: "allow", Not: &tt.m}}}, env)
			if len(np.rules[0].not) != 1 {
				return
			}
			want := map[tri]tri{yes: no, no: yes, unknown: unknown}[tt.want]
			if got := np.rules[0].eval(&q); got != want {
				t.Fatalf("not: eval = %v, want %v", got, want)
			}
		})
	}
}

func TestTimezone(t *testing.T) {
	// 10:00 UTC is 12:00 in Berlin in June (CEST).
	cfg := Config{Timezone: "UTC", Rules: []RuleConfig{
		{Name: "berlin-noon", Action: "deny", Timezone: "Europe/Berlin", Match: Match{Time: Values{"11:30-12:30"}}},
	}}
	p := mustCompile(t, cfg, Env{})
	q := Query{Host: "x.example", Port: 443, Time: monday10}
	if v := p.Decide(&q); v.Rule != "berlin-noon" {
		t.Fatalf("verdict %+v, want rule berlin-noon", v)
	}
}

// TestDecideOrder checks first-match-wins, the default, and that a rule
// needing the address stops the walk only when nothing else rules it out.
func TestDecideOrder(t *testing.T) {
	rules := []RuleConfig{
		{Name: "deny-ads", Action: "deny", Match: Match{Domain: Values{".ads.example"}}},
		{Name: "allow-intranet", Action: "allow", Match: Match{Domain: Values{"intranet.corp"}}},
		{Name: "deny-private", Action: "deny", Match: Match{IP: Values{"10.0.0.0/8", "127.0.0.0/8"}}},
		{Name: "deny-internal-on-80", Action: "deny", Match: Match{Port: Values{"80"}, IP: Values{"192.168.0.0/16"}}},
		{Name: "connect-443-only", Action: "deny", Match: Match{Proto: Values{"connect"}}, Not: &Match{Port: Values{"443"}}},
		{Name: "allow-web", Action: "allow", Match: Match{Port: Values{"80", "443"}}},
	}
	p := mustCompile(t, Config{Default: "deny", Rules: rules}, Env{})
	tests := []struct {
		name string
		q    Query
		want Verdict
	}{
		{"first match wins over later allow", Query{Host: "x.ads.example", Port: 443, Proto: "connect"}, Verdict{Rule: "deny-ads"}},
		{"allow before ip rule needs no ip", Query{Host: "intranet.corp", Port: 443, Proto: "connect"}, Verdict{Allow: true, Rule: "allow-intranet"}},
		{"allow before ip rule holds with a private ip", Query{Host: "intranet.corp", IP: ip("10.0.0.5"), Port: 443, Proto: "connect"}, Verdict{Allow: true, Rule: "allow-intranet"}},
		{"name only stops at ip rule", Query{Host: "www.example", Port: 443, Proto: "connect"}, Verdict{Rule: "deny-private", NeedIP: true}},
		{"ip denied", Query{Host: "www.example", IP: ip("10.1.1.1"), Port: 443, Proto: "connect"}, Verdict{Rule: "deny-private"}},
		{"ip literal denied by name step", Query{IP: ip("127.0.0.1"), Port: 443, Proto: "connect"}, Verdict{Rule: "deny-private"}},
		{"ip allowed walks on", Query{Host: "www.example", IP: ip("192.0.2.1"), Port: 443, Proto: "connect"}, Verdict{Allow: true, Rule: "allow-web"}},
		{"ip rule ruled out by port does not stop", Query{Host: "www.example", IP: ip("192.168.1.1"), Port: 443, Proto: "connect"}, Verdict{Allow: true, Rule: "allow-web"}},
		{"ip rule with port matching", Query{Host: "www.example", IP: ip("192.168.1.1"), Port: 80, Proto: "http"}, Verdict{Rule: "deny-internal-on-80"}},
		{"not port", Query{Host: "www.example", IP: ip("192.0.2.1"), Port: 22, Proto: "connect"}, Verdict{Rule: "connect-443-only"}},
		{"default", Query{Host: "www.example", IP: ip("192.0.2.1"), Port: 22, Proto: "socks"}, Verdict{Rule: "default"}},
		{"name only, denied whatever the address", Query{Host: "www.example", Port: 22, Proto: "connect"}, Verdict{Rule: "connect-443-only"}},
		{"name only, default deny whatever the address", Query{Host: "www.example", Port: 22, Proto: "socks"}, Verdict{Rule: "default"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			if got := p.Decide(&q); got != tt.want {
				t.Fatalf("Decide = %+v, want %+v", got, tt.want)
			}
		})
	}
	allow := mustCompile(t, Config{Default: "allow"}, Env{})
	if v := allow.Decide(&Query{Host: "x", Port: 1}); v != (Verdict{Allow: true, Rule: "default"}) {
		t.Fatalf("empty allow policy: %+v", v)
	}
}

// TestNeedIPNeverSkipped: whatever the order, a name-only query never gets
// an allow from a rule after an address rule it could still match.
func TestNeedIPNeverSkipped(t *testing.T) {
	p := mustCompile(t, Config{Default: "allow", Rules: []RuleConfig{
		{Name: "deny-loopback", Action: "deny", Match: Match{IP: Values{"127.0.0.0/8"}}},
		{Name: "allow-all", Action: "allow", Match: Match{Port: Values{"1-65535"}}},
	}}, Env{})
	v := p.Decide(&Query{Host: "localhost", Port: 80})
	if v.Allow || !v.NeedIP || v.Rule != "deny-loopback" {
		t.Fatalf("name-only verdict %+v: want NeedIP at deny-loopback", v)
	}
	v = p.Decide(&Query{Host: "localhost", IP: ip("127.0.0.1"), Port: 80})
	if v.Allow || v.Rule != "deny-loopback" {
		t.Fatalf("with address %+v: want deny-loopback", v)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantKey string
	}{
		{"bad default", Config{Default: "maybe"}, "default"},
		{"bad zone", Config{Timezone: "Mars/Olympus"}, "timezone"},
		{"no name", Config{Rules: []RuleConfig{{Action: "allow"}}}, "rule[0].name"},
		{"dup name", Config{Rules: []RuleConfig{{Name: "a", Action: "allow"}, {Name: "a", Action: "deny"}}}, "rule[1].name"},
		{"reserved name", Config{Rules: []RuleConfig{{Name: "default", Action: "allow"}}}, "rule[0].name"},
		{"bad action", Config{Rules: []RuleConfig{{Name: "a", Action: "block"}}}, "rule[0].action"},
		{"bad port", Config{Rules: []RuleConfig{{Name: "a", Action: "deny", Match: Match{Port: Values{"0"}}}}}, "rule[0].port"},
		{"bad range", Config{Rules: []RuleConfig{{Name: "a", Action: "deny", Match: Match{Port: Values{"90-80"}}}}}, "rule[0].port"},
		{"bad cidr", Config{Rules: []RuleConfig{{Name: "a", Action: "deny", Match: Match{IP: Values{"10.0.0.0/33"}}}}}, "rule[0].ip"},
		{"host bits", Config{Rules: []RuleConfig{{Name: "a", Action: "deny", Match: Match{IP: Values{"10.1.2.3/8"}}}}}, "rule[0].ip"},
		{"bad client", Config{Rules: []RuleConfig{{Name: "a", Action: "deny", Match: Match{Client: Values{"me"}}}}}, "rule[0].client"},
		{"ip as domain", Config{Rules: []RuleConfig{{Name: "a", Action: "deny", Match: Match{Domain: Values{"10.0.0.1"}}}}}, "rule[0].domain"},
		{"bad domain", Config{Rules: []RuleConfig{{Name: "a", Action: "deny", Match: Match{Domain: Values{"a b"}}}}}, "rule[0].domain"},
		{"bad regex", Config{Rules: []RuleConfig{{Name: "a", Action: "deny", Match: Match{DomainRegex: Values{"(("}}}}}, "rule[0].domain_regex"},
		{"bad proto", Config{Rules: []RuleConfig{{Name: "a", Action: "deny", Match: Match{Proto: Values{"ftp"}}}}}, "rule[0].proto"},
		{"bad method", Config{Rules: []RuleConfig{{Name: "a", Action: "deny", Match: Match{Method: Values{"GE T"}}}}}, "rule[0].method"},
		{"bad time", Config{Rules: []RuleConfig{{Name: "a", Action: "deny", Match: Match{Time: Values{"9-17"}}}}}, "rule[0].time"},
		{"bad weekday", Config{Rules: []RuleConfig{{Name: "a", Action: "deny", Match: Match{Weekday: Values{"funday"}}}}}, "rule[0].weekday"},
		{"unknown group", Config{Rules: []RuleConfig{{Name: "a", Action: "deny", Match: Match{Group: Values{"nobody"}}}}}, "rule[0].group"},
		{"under not", Config{Rules: []RuleConfig{{Name: "a", Action: "deny", Not: &Match{Port: Values{"x"}}}}}, "rule[0].not.port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.cfg, Env{})
			es, ok := err.(Errors)
			if !ok || len(es) == 0 {
				t.Fatalf("Compile: err %v, want field errors", err)
			}
			if es[0].Key != tt.wantKey {
				t.Fatalf("first error %q, want key %q", es[0], tt.wantKey)
			}
		})
	}
}

func TestOpenRule(t *testing.T) {
	local := Match{Client: Values{"127.0.0.0/8", "::1"}}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"default allow", Config{Default: "allow"}, "default"},
		{"default deny, no rules", Config{}, ""},
		{"client-limited allow", Config{Rules: []RuleConfig{{Name: "lan", Action: "allow", Match: Match{Client: Values{"10.0.0.0/8"}}}}}, ""},
		{"user-limited allow", Config{Rules: []RuleConfig{{Name: "users", Action: "allow", Match: Match{User: Values{"alice"}}}}}, ""},
		{"unlimited allow", Config{Rules: []RuleConfig{{Name: "web", Action: "allow", Match: Match{Port: Values{"443"}}}}}, "web"},
		{"client everywhere", Config{Rules: []RuleConfig{{Name: "all", Action: "allow", Match: Match{Client: Values{"0.0.0.0/0"}}}}}, "all"},
		{"deny outsiders first", Config{Default: "allow", Rules: []RuleConfig{{Name: "outsiders", Action: "deny", Not: &local}}}, ""},
		{"reverse-only allow is not open", Config{Rules: []RuleConfig{{Name: "rev", Action: "allow", Match: Match{Proto: Values{"tcp", "tls"}}}}}, ""},
		{"mixed proto allow is open", Config{Rules: []RuleConfig{{Name: "mix", Action: "allow", Match: Match{Proto: Values{"tls", "socks"}}}}}, "mix"},
		{"udp allow is open", Config{Rules: []RuleConfig{{Name: "dgrams", Action: "allow", Match: Match{Proto: Values{"udp"}}}}}, "dgrams"},
		{"deny rules do not open", Config{Rules: []RuleConfig{{Name: "d", Action: "deny", Match: Match{Port: Values{"25"}}}, {Name: "lan", Action: "allow", Match: local}}}, ""},
		// Issue 20 item 11: decided by walking the rules, not reading them.
		{"everyone in two halves", Config{Rules: []RuleConfig{
			{Name: "low", Action: "allow", Match: Match{Client: Values{"0.0.0.0/1"}}},
			{Name: "high", Action: "allow", Match: Match{Client: Values{"128.0.0.0/1"}}}}}, "low, high"},
		{"half of everyone", Config{Rules: []RuleConfig{{Name: "low", Action: "allow", Match: Match{Client: Values{"0.0.0.0/1"}}}}}, ""},
		{"a deny whose not.client covers everyone", Config{Default: "allow", Rules: []RuleConfig{
			{Name: "nobody", Action: "deny", Not: &Match{Client: Values{"0.0.0.0/1", "128.0.0.0/1", "::/0"}}}}}, "default"},
		{"everyone but a few", Config{Rules: []RuleConfig{{Name: "most", Action: "allow", Not: &Match{Client: Values{"203.0.113.0/24"}}}}}, "most"},
		{"all of IPv6", Config{Rules: []RuleConfig{{Name: "v6", Action: "allow", Match: Match{Client: Values{"2000::/3"}}}}}, "v6"},
		{"an office's public range", Config{Rules: []RuleConfig{{Name: "office", Action: "allow", Match: Match{Client: Values{"203.0.113.0/24"}}}}}, ""},
		{"at some hours, to anyone", Config{Rules: []RuleConfig{{Name: "night", Action: "allow", Match: Match{Time: Values{"22:00-06:00"}}}}}, "night"},
		{"a deny for some ports does not close", Config{Default: "allow", Rules: []RuleConfig{
			{Name: "smtp", Action: "deny", Match: Match{Port: Values{"25"}, Client: Values{"0.0.0.0/0"}}}}}, "default"},
		{"a deny for everyone on forward protocols closes", Config{Default: "allow", Rules: []RuleConfig{
			{Name: "forward", Action: "deny", Match: Match{Proto: Values{"connect", "http", "socks", "udp"}}}}}, ""},
		{"a deny of the TCP protocols leaves UDP open", Config{Default: "allow", Rules: []RuleConfig{
			{Name: "tcp", Action: "deny", Match: Match{Proto: Values{"connect", "http", "socks"}}}}}, "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustCompile(t, tt.cfg, Env{}).OpenRule(); got != tt.want {
				t.Fatalf("OpenRule = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	p := mustCompile(t, Config{Rules: []RuleConfig{
		{Name: "deny-private", Action: "deny", Match: Match{IP: Values{"10.0.0.0/8"}}},
		{Name: "https", Action: "allow", Match: Match{Port: Values{"443"}}},
	}}, Env{})
	steps, v := p.Explain(&Query{Host: "a.example", IP: ip("192.0.2.1"), Port: 443})
	if !v.Allow || v.Rule != "https" || len(steps) != 2 {
		t.Fatalf("verdict %+v, steps %+v", v, steps)
	}
	if steps[0].Result != "no match" || steps[0].Checks[0].Result != "no" || steps[1].Result != "match" {
		t.Fatalf("steps %+v", steps)
	}
	steps, v = p.Explain(&Query{Host: "a.example", Port: 443})
	if !v.NeedIP || len(steps) != 2 || steps[0].Checks[0].Result != "needs the address" || steps[1].Result != "match" {
		t.Fatalf("name only: verdict %+v, steps %+v", v, steps)
	}
}

// TestDecideDoesNotAllocate guards the hot path: every matcher type, the
// walk, and a verdict, with zero allocations.
func TestDecideDoesNotAllocate(t *testing.T) {
	set, _, err := ParseList(strings.NewReader("ads.example\n0.0.0.0 tracker.example\n||pixel.example^\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := Env{Groups: map[string][]string{"staff": {"alice"}}, LoadList: func(string) (*DomainSet, error) { return set, nil },
		Self: NewAddrSet([]netip.Addr{ip("192.0.2.7"), ip("2001:db8::7")})}
	p := mustCompile(t, Config{Rules: []RuleConfig{
		{Name: "list", Action: "deny", Match: Match{DomainList: Values{"l"}}},
		{Name: "re", Action: "deny", Match: Match{DomainRegex: Values{`^ads[0-9]+\.`}}},
		{Name: "all", Action: "deny", Match: Match{Domain: Values{".example.com"}, Port: Values{"22"}, Client: Values{"10.0.0.0/8"},
			User: Values{"bob"}, Group: Values{"staff"}, Proto: Values{"http"}, Method: Values{"POST"}, Time: Values{"00:00-24:00"}, Weekday: Values{"mon-sun"}}},
		{Name: "ip", Action: "deny", Match: Match{IP: Values{"10.0.0.0/8", "fc00::/7", "self"}}},
	}}, env)
	q := Query{Host: "www.shop.example.com", IP: ip("192.0.2.1"), Port: 443, Proto: "connect", Method: "CONNECT",
		User: "alice", Client: ip("10.0.0.1"), Time: time.Now()}
	if n := testing.AllocsPerRun(1000, func() { p.Decide(&q) }); n != 0 {
		t.Fatalf("Decide allocates %v times per call", n)
	}
}

// ForMethod: only a rule that looks at the method allows by it.
func TestForMethod(t *testing.T) {
	p := mustCompile(t, Config{Default: "allow", Rules: []RuleConfig{
		{Name: "purgers", Action: "allow", Match: Match{Method: Values{"PURGE"}, Client: Values{"10.0.0.0/8"}}},
		{Name: "local", Action: "allow", Match: Match{Client: Values{"127.0.0.0/8"}}},
		{Name: "lan-needs-ip", Action: "allow", Match: Match{Client: Values{"192.168.0.0/16"}, IP: Values{"192.0.2.0/24"}}},
	}}, Env{})
	tests := []struct {
		name   string
		client string
		want   bool
	}{
		{"a method rule", "10.1.2.3", true},
		{"a rule for everything", "127.0.0.1", false},
		{"the default", "172.16.0.1", false},
		{"waiting for the address", "192.168.1.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := Query{Host: "example.com", Port: 80, Proto: "http", Method: "PURGE", Client: netip.MustParseAddr(tt.client)}
			if got := ForMethod(p, q, p.Decide(&q)); got != tt.want {
				t.Errorf("ForMethod = %v, want %v", got, tt.want)
			}
		})
	}
}
