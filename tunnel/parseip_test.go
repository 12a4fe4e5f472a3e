package tunnel

import (
	"net/netip"
	"testing"
)

// parseIP answers as netip.ParseAddr does, without its error for names.
func TestParseIP(t *testing.T) {
	for _, host := range []string{
		"192.0.2.1", "::1", "2001:db8::1", "fe80::1%eth0", "::ffff:192.0.2.1", "FE80::A",
		"example.com", "cafe.be", "localhost", "abc", "1.2.3", "", "deadbeef", "x", "1.2.3.4.5",
	} {
		want, err := netip.ParseAddr(host)
		got, ok := parseIP(host)
		if ok != (err == nil) || got != want {
			t.Errorf("parseIP(%q) = %v, %v; netip.ParseAddr: %v, %v", host, got, ok, want, err)
		}
	}
	if n := testing.AllocsPerRun(100, func() { parseIP("www.example.com") }); n != 0 {
		t.Errorf("parseIP of a name: %v allocations, want 0", n)
	}
}
