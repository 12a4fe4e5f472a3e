package acl

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestAddrSet(t *testing.T) {
	s := NewAddrSet([]netip.Addr{ip("192.0.2.7"), ip("::ffff:192.0.2.7"), ip("fe80::1%eth0"), ip("2001:db8::7"), {}})
	want := []netip.Addr{ip("192.0.2.7"), ip("2001:db8::7"), ip("fe80::1")}
	if got := s.Addrs(); !slices.Equal(got, want) {
		t.Fatalf("Addrs = %v, want %v (unmapped, no zone, sorted, once, no invalid)", got, want)
	}
	for _, a := range []string{"192.0.2.7", "::ffff:192.0.2.7", "fe80::1%eth1", "2001:db8::7"} {
		if !s.Contains(ip(a)) {
			t.Errorf("%s not in the set", a)
		}
	}
	for _, a := range []string{"192.0.2.8", "2001:db8::8", "127.0.0.1"} {
		if s.Contains(ip(a)) {
			t.Errorf("%s in the set", a)
		}
	}
	if s.Store([]netip.Addr{ip("2001:db8::7"), ip("fe80::1"), ip("192.0.2.7")}) {
		t.Error("the same addresses reported as a change")
	}
	if !s.Store([]netip.Addr{ip("198.51.100.1")}) || s.Contains(ip("192.0.2.7")) || !s.Contains(ip("198.51.100.1")) {
		t.Errorf("after a change: %v", s.Addrs())
	}
	if (&AddrSet{}).Contains(ip("192.0.2.7")) {
		t.Error("an empty set contains an address")
	}
}

// ip = ["self"] follows the set: a change of the host's addresses reaches
// the compiled rules at once, without a reload.
func TestSelfRule(t *testing.T) {
	self := NewAddrSet([]netip.Addr{ip("192.0.2.7")})
	p := mustCompile(t, Config{Default: "allow", Rules: []RuleConfig{
		{Name: "deny-this-host", Action: "deny", Match: Match{IP: Values{"127.0.0.0/8", "self"}}},
	}}, Env{Self: self})
	decide := func(a string) Verdict {
		q := Query{Host: "", IP: ip(a), Port: 80, Proto: "http", Client: ip("127.0.0.1")}
		return p.Decide(&q)
	}
	if v := decide("192.0.2.7"); v.Allow || v.Rule != "deny-this-host" {
		t.Fatalf("the host's address: %+v", v)
	}
	if v := decide("127.0.0.1"); v.Allow {
		t.Fatalf("loopback: %+v", v)
	}
	if v := decide("198.51.100.1"); !v.Allow {
		t.Fatalf("another address: %+v", v)
	}
	self.Store([]netip.Addr{ip("198.51.100.1")})
	if v := decide("198.51.100.1"); v.Allow {
		t.Fatalf("an address the host took since: %+v", v)
	}
	if v := decide("192.0.2.7"); !v.Allow {
		t.Fatalf("an address the host gave up: %+v", v)
	}
	steps, _ := p.Explain(&Query{IP: ip("198.51.100.1"), Port: 80})
	if !strings.Contains(steps[0].Checks[0].Matcher, "self: 198.51.100.1") {
		t.Errorf("explain shows %q, want the addresses self stands for", steps[0].Checks[0].Matcher)
	}
	if _, err := Compile(Config{Rules: []RuleConfig{{Name: "r", Action: "deny", Match: Match{IP: Values{"self"}}}}}, Env{}); err == nil {
		t.Error("self compiled without the host's addresses")
	}
}
