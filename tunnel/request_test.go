package tunnel_test

import (
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/tunnel"
)

var splitTargetTests = []struct {
	name, in string
	host     string
	port     uint16
	ok       bool
}{
	{"name", "example.com:443", "example.com", 443, true},
	{"upper case", "ExAmple.COM:80", "example.com", 80, true},
	{"trailing dot", "example.com.:80", "example.com", 80, true},
	{"ipv4", "192.0.2.1:8080", "192.0.2.1", 8080, true},
	{"ipv6 brackets", "[2001:db8::1]:443", "2001:db8::1", 443, true},
	{"ipv6 loopback", "[::1]:1", "::1", 1, true},
	{"ipv6 upper case", "[2001:DB8::A]:443", "2001:db8::a", 443, true},
	{"ipv6 zone dropped", "[fe80::1%eth0]:22", "fe80::1", 22, true},
	{"underscore", "_dmarc.example.com:53", "_dmarc.example.com", 53, true},
	{"port max", "h:65535", "h", 65535, true},
	{"leading zero port", "h:080", "h", 80, true},
	{"port 0", "example.com:0", "", 0, false},
	{"port 65536", "example.com:65536", "", 0, false},
	{"negative port", "example.com:-1", "", 0, false},
	{"named port", "example.com:https", "", 0, false},
	{"plus port", "example.com:+80", "", 0, false},
	{"empty port", "example.com:", "", 0, false},
	{"no port", "example.com", "", 0, false},
	{"empty host", ":80", "", 0, false},
	{"only dot", ".:80", "", 0, false},
	// "example.com.." must not become "example.com.", which an ACL name
	// rule for example.com would not match but DNS resolves all the same.
	{"two trailing dots", "example.com..:80", "", 0, false},
	{"leading dot", ".example.com:80", "", 0, false},
	{"empty label", "example..com:80", "", 0, false},
	{"ipv6 without brackets", "2001:db8::1:443", "", 0, false},
	{"unclosed bracket", "[::1:80", "", 0, false},
	{"space", "exa mple.com:80", "", 0, false},
	{"slash", "example.com/x:80", "", 0, false},
	{"at", "user@example.com:80", "", 0, false},
	{"nul", "exa\x00mple.com:80", "", 0, false},
	// An internationalized name is matched and resolved as punycode (issue 4).
	{"non-ascii to punycode", "exämple.com:80", "xn--exmple-cua.com", 80, true},
	{"bad idn", "ex\u200dample.com:80", "", 0, false},
	{"too long", strings.Repeat("a.", 127) + "aa:80", "", 0, false},
	{"longest", strings.Repeat("a.", 126) + "a:80", strings.Repeat("a.", 126) + "a", 80, true},
	{"label too long", strings.Repeat("a", 64) + ".com:80", "", 0, false},
	{"longest label", strings.Repeat("a", 63) + ".com:80", strings.Repeat("a", 63) + ".com", 80, true},
	{"empty", "", "", 0, false},
	{"garbage", "\r\n\r\n", "", 0, false},
}

func TestSplitTarget(t *testing.T) {
	for _, tt := range splitTargetTests {
		t.Run(tt.name, func(t *testing.T) {
			host, port, err := tunnel.SplitTarget(tt.in)
			if !tt.ok {
				if err == nil {
					t.Fatalf("SplitTarget(%q) = %q, %d; want an error", tt.in, host, port)
				}
				if k := tunnel.KindOf(err); k != tunnel.BadRequest {
					t.Errorf("KindOf(err) = %v, want BadRequest", k)
				}
				return
			}
			if err != nil || host != tt.host || port != tt.port {
				t.Errorf("SplitTarget(%q) = %q, %d, %v; want %q, %d", tt.in, host, port, err, tt.host, tt.port)
			}
		})
	}
}

func TestCanonicalHost(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"lower", "example.com", "example.com", true},
		{"mixed case", "WWW.Example.Com", "www.example.com", true},
		{"one trailing dot", "example.com.", "example.com", true},
		{"ipv4", "127.0.0.1", "127.0.0.1", true},
		{"ipv6", "0:0:0:0:0:0:0:1", "::1", true},
		{"ipv4-mapped kept as asked", "::ffff:127.0.0.1", "::ffff:127.0.0.1", true},
		{"empty", "", "", false},
		{"dot", ".", "", false},
		{"bracketed", "[::1]", "", false},
		{"colon", "a:b", "", false},
		{"percent", "a%20b", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tunnel.CanonicalHost(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("CanonicalHost(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

// FuzzSplitTarget: no panic, and what comes out is canonical: splitting
// its own output again gives the same answer.
func FuzzSplitTarget(f *testing.F) {
	for _, tt := range splitTargetTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		host, port, err := tunnel.SplitTarget(in)
		if err != nil {
			return
		}
		if port == 0 || host == "" {
			t.Fatalf("SplitTarget(%q) = %q, %d with no error", in, host, port)
		}
		r := tunnel.Request{Host: host, Port: port}
		h2, p2, err := tunnel.SplitTarget(r.Target())
		if err != nil || h2 != host || p2 != port {
			t.Fatalf("SplitTarget(%q) = %q, %d; again on %q: %q, %d, %v", in, host, port, r.Target(), h2, p2, err)
		}
	})
}
