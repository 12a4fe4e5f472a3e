package forward

import (
	"fmt"
	"net/http"
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

// A fleet owner's own refusal sends the member's request elsewhere; a
// parent's failure the owner passed on, with ferry's member naming it
// (received-status), is the client's answer.
func TestOwnerRefused(t *testing.T) {
	tests := []struct {
		name   string
		status int
		ps     []string
		want   bool
	}{
		{"the owner's connection cap", 503, []string{`ferry; error=connection_limit_reached; details="connection limit"`}, true},
		{"the owner's ACL", 403, []string{`ferry; error=http_request_denied; details="denied"`}, true},
		{"a parent's 503 passed on", 503, []string{`ferry; error=dns_error; details="x"; next-hop="corp"; received-status=503`}, false},
		{"an origin's 503", 503, nil, false},
		{"a 502 of the owner's", 502, []string{`ferry; error=dns_error; details="x"`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &http.Response{StatusCode: tt.status, Header: http.Header{"Proxy-Status": tt.ps}}
			if got := ownerRefused(res); got != tt.want {
				t.Errorf("ownerRefused = %v, want %v", got, tt.want)
			}
		})
	}
}
