package tunnel

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/ferry-proxy/ferry/acl"
)

// policy denies loopback destinations and allows everything else.
func denyLoopback(t *testing.T) *Policy {
	t.Helper()
	p, err := acl.Compile(acl.Config{Default: "allow", Rules: []acl.RuleConfig{
		{Name: "deny-loopback", Action: "deny", Match: acl.Match{IP: acl.Values{"127.0.0.0/8", "::1"}}},
	}}, acl.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return &Policy{ACL: p}
}

func listen(t *testing.T) (port uint16) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

func TestACLOnTheDialedAddress(t *testing.T) {
	port := listen(t)
	e := New(Config{}, denyLoopback(t))
	tests := []struct {
		name     string
		host     string
		wantAuth Kind // from Authorize
		wantDial Kind // from Dial, when Authorize let it through
	}{
		// The name is not denied; its address is, at the dial.
		{"localhost resolves to loopback", "localhost", OK, DeniedIP},
		{"literal loopback", "127.0.0.1", DeniedIP, OK},
		{"ipv4-mapped loopback", "::ffff:127.0.0.1", DeniedIP, OK},
		{"ipv6 loopback", "::1", DeniedIP, OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &Request{Proto: ProtoConnect, Host: tt.host, Port: port}
			rec, err := e.Authorize(context.Background(), req)
			if KindOf(err) != tt.wantAuth {
				t.Fatalf("Authorize: %v, want kind %v", err, tt.wantAuth)
			}
			if err != nil {
				if RuleOf(err) != "deny-loopback" || rec.Decision != "deny" || rec.Rule != "deny-loopback" {
					t.Fatalf("rule %q, log %q/%q", RuleOf(err), rec.Rule, rec.Decision)
				}
				return
			}
			c, rec, err := e.Open(context.Background(), req)
			if err == nil {
				c.Close()
			}
			if KindOf(err) != tt.wantDial || RuleOf(err) != "deny-loopback" || rec.Rule != "deny-loopback" || rec.Decision != "deny" {
				t.Fatalf("Dial: %v (kind %v, rule %q, log %q/%q)", err, KindOf(err), RuleOf(err), rec.Rule, rec.Decision)
			}
		})
	}
}

func TestCanonicalHostIDN(t *testing.T) {
	h, err := CanonicalHost("BÜCHER.example.")
	if err != nil || h != "xn--bcher-kva.example" {
		t.Fatalf("CanonicalHost = %q, %v", h, err)
	}
	if _, err := CanonicalHost("a b"); KindOf(err) != BadRequest {
		t.Fatalf("bad host: %v", err)
	}
}

// BenchmarkAuthorize: the engine's ACL step for an allowed request, with
// the example's rules (the walk ends at the last rule), next to AllowAll.
// Neither allocates.
func BenchmarkAuthorize(b *testing.B) {
	rules, err := acl.Compile(acl.Config{Rules: []acl.RuleConfig{
		{Name: "deny-internal", Action: "deny", Match: acl.Match{IP: acl.Values{"127.0.0.0/8", "10.0.0.0/8", "fc00::/7"}}},
		{Name: "connect-https-only", Action: "deny", Match: acl.Match{Proto: acl.Values{"connect"}}, Not: &acl.Match{Port: acl.Values{"443"}}},
		{Name: "safe-ports", Action: "deny", Not: &acl.Match{Port: acl.Values{"80", "443", "1025-65535"}}},
		{Name: "local", Action: "allow", Match: acl.Match{Client: acl.Values{"127.0.0.0/8"}}},
	}}, acl.Env{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name, host string
		p          *Policy
	}{
		{"allowall-baseline", "192.0.2.1", nil},
		{"example-rules", "192.0.2.1", &Policy{ACL: rules}},
		{"example-rules-name", "www.example.com", &Policy{ACL: rules}}, // no address: the IP rules are left to the dial
	} {
		e := New(Config{}, bc.p)
		req := &Request{Proto: ProtoConnect, Client: netip.MustParseAddrPort("127.0.0.1:5000"), Host: bc.host, Port: 443}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Authorize(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
