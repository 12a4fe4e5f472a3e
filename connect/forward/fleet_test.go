package forward

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/ferry-proxy/ferry/tunnel"
)

// changingRing is a fleet whose members come and go.
type changingRing struct{ members []string }

func (r *changingRing) Owner(string) (string, bool) { return r.members[0], false }
func (r *changingRing) IsMember(ip netip.Addr) bool { return false }
func (r *changingRing) Members() []string           { return r.members }
func (r *changingRing) Self() string                { return "10.0.0.1:3128" }

// The upstreams kept for members are the current members' only, however
// many have come and gone (issue 18 review, Low 7).
func TestPeersBounded(t *testing.T) {
	ring := &changingRing{}
	p := &peers{owners: ring, by: map[string]*tunnel.Upstream{}}
	for i := range 1000 {
		addr := fmt.Sprintf("10.0.%d.%d:3128", i/250, i%250+2)
		ring.members = []string{"10.0.0.1:3128", addr}
		if p.upstream(addr) == nil {
			t.Fatalf("no upstream for %s", addr)
		}
	}
	if n := p.size(); n > 2 {
		t.Errorf("%d member upstreams kept for a fleet of 2", n)
	}
	// A member that stays keeps its upstream (and its health).
	ring.members = []string{"10.0.0.1:3128", "10.9.0.1:3128", "10.9.0.2:3128"}
	a := p.upstream("10.9.0.1:3128")
	p.upstream("10.9.0.2:3128")
	if p.upstream("10.9.0.1:3128") != a {
		t.Error("a member's upstream was replaced while it stayed")
	}
}
