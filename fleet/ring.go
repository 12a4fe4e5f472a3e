package fleet

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Ring is the fleet's members as the shared cache sees them: each
// cacheable URL has one owner among them, by rendezvous hashing (highest
// random weight, as Squid's CARP): every member computes the same owner
// from the same list, and when a member leaves only the URLs it owned
// move, each to the member that scores next for it. The list comes from
// the config, or from Redis heartbeats (Members).
type Ring struct {
	self    string                   // this member's peer address
	members atomic.Pointer[[]string] // peer addresses, sorted
	// ips are the members' addresses, which a request from a member
	// comes from: only theirs is believed to come from one (IsMember).
	ips   atomic.Pointer[map[netip.Addr]struct{}]
	setMu sync.Mutex // one Set at a time: the lookups of a new list
}

// resolveTimeout bounds the lookup of a member given by name.
const resolveTimeout = time.Second

// NewRing returns a ring for the member at self, with members to start
// (self is added when missing).
func NewRing(self string, members []string) *Ring {
	r := &Ring{self: self}
	r.Set(members)
	return r
}

// Self is this member's peer address.
func (r *Ring) Self() string { return r.self }

// Set replaces the member list. The members' host names, if any, are
// looked up when the list changes (each within resolveTimeout), not per
// request.
func (r *Ring) Set(members []string) {
	m := slices.Clone(members)
	if !slices.Contains(m, r.self) {
		m = append(m, r.self)
	}
	slices.Sort(m)
	m = slices.Compact(m)
	r.setMu.Lock()
	defer r.setMu.Unlock()
	if old := r.members.Load(); old != nil && slices.Equal(*old, m) {
		return
	}
	ips := memberIPs(m)
	r.ips.Store(&ips)
	r.members.Store(&m)
}

// memberIPs are the addresses of members (host:port each). Names are
// looked up all at once, within resolveTimeout together: the heartbeat
// waits for them, and its member entry lapses after MemberTTL.
func memberIPs(members []string) map[netip.Addr]struct{} {
	ips := make(map[netip.Addr]struct{}, len(members))
	var names []string
	for _, m := range members {
		host, _, err := net.SplitHostPort(m)
		if err != nil {
			continue
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			ips[ip.Unmap()] = struct{}{}
		} else {
			names = append(names, host)
		}
	}
	if len(names) == 0 {
		return ips
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	found := make([][]netip.Addr, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { found[i], _ = net.DefaultResolver.LookupNetIP(ctx, "ip", name) })
	}
	wg.Wait()
	for _, addrs := range found {
		for _, ip := range addrs {
			ips[ip.Unmap()] = struct{}{}
		}
	}
	return ips
}

// Resolve looks the members' names up again: a member whose address
// changed, or whose lookup failed, is known by its address again.
func (r *Ring) Resolve() {
	r.setMu.Lock()
	defer r.setMu.Unlock()
	ips := memberIPs(*r.members.Load())
	r.ips.Store(&ips)
}

// IsMember reports whether ip is a member's address: a request from it
// with the fleet's hop marker was sent on by a member.
func (r *Ring) IsMember(ip netip.Addr) bool {
	_, ok := (*r.ips.Load())[ip.Unmap()]
	return ok
}

// Members is the current list, sorted.
func (r *Ring) Members() []string { return *r.members.Load() }

// Owner is the member that owns key: its peer address, and whether it is
// this member.
func (r *Ring) Owner(key string) (string, bool) {
	var best string
	var top uint64
	for _, m := range *r.members.Load() {
		if w := weight(m, key); best == "" || w > top {
			best, top = m, w
		}
	}
	return best, best == r.self
}

// weight is member m's score for key: FNV-1a of both, mixed so that
// members whose names differ in one byte do not score alike.
func weight(m, key string) uint64 {
	const prime = 1099511628211
	x := uint64(14695981039346656037) // FNV-1a, inline: no allocation per member
	for i := 0; i < len(m); i++ {
		x = (x ^ uint64(m[i])) * prime
	}
	x *= prime // the 0 byte between them
	for i := 0; i < len(key); i++ {
		x = (x ^ uint64(key[i])) * prime
	}
	// splitmix64's finaliser
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
