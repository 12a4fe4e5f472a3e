package tunnel

import (
	"context"
	"net"
	"testing"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/internal/accesslog"
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
			rec := &accesslog.Record{}
			req := &Request{Proto: ProtoConnect, Host: tt.host, Port: port, Log: rec}
			err := e.Authorize(req)
			if KindOf(err) != tt.wantAuth {
				t.Fatalf("Authorize: %v, want kind %v", err, tt.wantAuth)
			}
			if err != nil {
				if RuleOf(err) != "deny-loopback" || rec.Decision != "deny" || rec.Rule != "deny-loopback" {
					t.Fatalf("rule %q, log %q/%q", RuleOf(err), rec.Rule, rec.Decision)
				}
				return
			}
			c, err := e.Dial(context.Background(), req)
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
