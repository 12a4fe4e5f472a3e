package fleet

import (
	"slices"
	"sync/atomic"
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
}

// NewRing returns a ring for the member at self, with members to start
// (self is added when missing).
func NewRing(self string, members []string) *Ring {
	r := &Ring{self: self}
	r.Set(members)
	return r
}

// Self is this member's peer address.
func (r *Ring) Self() string { return r.self }

// Set replaces the member list.
func (r *Ring) Set(members []string) {
	m := slices.Clone(members)
	if !slices.Contains(m, r.self) {
		m = append(m, r.self)
	}
	slices.Sort(m)
	m = slices.Compact(m)
	r.members.Store(&m)
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
