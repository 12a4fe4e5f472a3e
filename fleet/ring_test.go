package fleet

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// Every member computes the same owner; the URLs spread over the members;
// when one leaves, only the URLs it owned move.
func TestRingOwners(t *testing.T) {
	members := []string{"10.0.0.1:8081", "10.0.0.2:8081", "10.0.0.3:8081"}
	rings := []*Ring{NewRing(members[0], members), NewRing(members[1], members), NewRing(members[2], members[:2])}
	rings[2].Set(members) // a member that learnt the list later
	const n = 3000
	owned := map[string]int{}
	before := map[string]string{}
	for i := range n {
		key := fmt.Sprintf("http://example.com/object/%d", i)
		o0, self0 := rings[0].Owner(key)
		for j, r := range rings[1:] {
			if o, self := r.Owner(key); o != o0 || self != (o == members[j+1]) {
				t.Fatalf("%s: member %d says %s (self %v), member 0 says %s", key, j+1, o, self, o0)
			}
		}
		if self0 != (o0 == members[0]) {
			t.Fatalf("%s: self %v for owner %s", key, self0, o0)
		}
		owned[o0]++
		before[key] = o0
	}
	for _, m := range members {
		if share := float64(owned[m]) / n; share < 0.25 || share > 0.42 {
			t.Errorf("%s owns %.0f%% of the URLs; want about a third", m, 100*share)
		}
	}
	gone := members[1]
	r := NewRing(members[0], []string{members[0], members[2]})
	moved := 0
	for key, o := range before {
		now, _ := r.Owner(key)
		switch {
		case now == gone:
			t.Fatalf("%s still owned by the member that left", key)
		case o != gone && now != o:
			t.Fatalf("%s moved from %s to %s though its owner stayed", key, o, now)
		case o == gone:
			moved++
		}
	}
	if moved != owned[gone] {
		t.Errorf("%d URLs moved, want the %d the leaving member owned", moved, owned[gone])
	}
	if got := NewRing("a:1", nil).Members(); !slices.Equal(got, []string{"a:1"}) {
		t.Errorf("a ring of none holds %v, want itself", got)
	}
}

// Members announce themselves in Redis; each ring learns the others, and
// one that stops is out of the others' rings soon (it leaves at once).
func TestMembersFromRedis(t *testing.T) {
	srv := startRedis(t)
	a, b := srv.client(t), srv.client(t)
	ra, rb := NewRing("127.0.0.1:1001", nil), NewRing("127.0.0.1:1002", nil)
	stopA := a.Members(ra, nil)
	defer stopA()
	stopB := b.Members(rb, nil)
	both := []string{"127.0.0.1:1001", "127.0.0.1:1002"}
	waitRing(t, ra, both)
	waitRing(t, rb, both)
	stopB()
	waitRing(t, ra, both[:1])
}

// waitRing waits, a heartbeat at a time and at most MemberTTL*3, for r to
// hold want.
func waitRing(t *testing.T, r *Ring, want []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*MemberTTL)
	defer cancel()
	for !slices.Equal(r.Members(), want) {
		select {
		case <-ctx.Done():
			t.Fatalf("ring holds %v, want %v", r.Members(), want)
		case <-time.After(HeartbeatEvery / 4):
		}
	}
}

// IsMember knows the members' addresses, given as IPs or names (looked up
// when the list changes), and no other.
func TestRingIsMember(t *testing.T) {
	r := NewRing("10.0.0.1:8081", []string{"10.0.0.2:8081", "localhost:8081", "[2001:db8::1]:8081"})
	for _, ip := range []string{"10.0.0.1", "10.0.0.2", "127.0.0.1", "2001:db8::1", "::ffff:10.0.0.2"} {
		if !r.IsMember(netip.MustParseAddr(ip)) {
			t.Errorf("%s not taken for a member", ip)
		}
	}
	if r.IsMember(netip.MustParseAddr("10.0.0.3")) {
		t.Error("10.0.0.3 taken for a member")
	}
	r.Set([]string{"10.0.0.3:8081"})
	if !r.IsMember(netip.MustParseAddr("10.0.0.3")) || r.IsMember(netip.MustParseAddr("10.0.0.2")) {
		t.Error("the member addresses did not follow the list")
	}
}
