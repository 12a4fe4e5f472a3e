package reverse

import (
	"net/netip"
	"testing"
)

// A link-local client's zone (fe80::1%eth0) does not take it past a CIDR
// naming its address: netip's Contains is false for every zoned address.
func TestGuardZonedClient(t *testing.T) {
	g := &Guard{Deny: []netip.Prefix{netip.MustParsePrefix("fe80::/10")}}
	if ok, rule := g.Check(netip.MustParseAddr("fe80::1%eth0")); ok || rule != "deny fe80::/10" {
		t.Errorf("zoned link-local client: ok %v rule %q, want denied by fe80::/10", ok, rule)
	}
	g = &Guard{Allow: []netip.Prefix{netip.MustParsePrefix("fe80::/10")}}
	if ok, _ := g.Check(netip.MustParseAddr("fe80::1%eth0")); !ok {
		t.Error("zoned link-local client not admitted by allow fe80::/10")
	}
}
