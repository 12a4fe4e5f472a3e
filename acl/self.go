package acl

import (
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
)

// Self is the value of an ip matcher that names the host's own addresses:
// ip = ["self"] (issue 20: a service bound to 0.0.0.0 on ferry's host must
// not be reachable through ferry at the host's public address).
const Self = "self"

// AddrSet is a set of addresses that may change while the rules that
// name it are in force: the host's interface addresses, which the loader
// reads at start and on reload and a watcher on interface changes. Store
// replaces the set for every rule at once; Contains does not allocate.
type AddrSet struct {
	p atomic.Pointer[[]netip.Addr]
}

// NewAddrSet returns a set holding addrs.
func NewAddrSet(addrs []netip.Addr) *AddrSet {
	s := &AddrSet{}
	s.Store(addrs)
	return s
}

// Store replaces the set with addrs, unmapped (::ffff:192.0.2.1 is
// 192.0.2.1), without zones, sorted, each once. It reports whether the
// set changed.
func (s *AddrSet) Store(addrs []netip.Addr) bool {
	set := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if a.IsValid() {
			set = append(set, a.Unmap().WithZone(""))
		}
	}
	slices.SortFunc(set, netip.Addr.Compare)
	set = slices.Compact(set)
	if old := s.p.Swap(&set); old != nil && slices.Equal(*old, set) {
		return false
	}
	return true
}

// Addrs is the set now.
func (s *AddrSet) Addrs() []netip.Addr {
	if p := s.p.Load(); p != nil {
		return slices.Clone(*p)
	}
	return nil
}

// Contains reports whether a (unmapped, its zone ignored) is in the set.
func (s *AddrSet) Contains(a netip.Addr) bool {
	p := s.p.Load()
	if p == nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, x := range *p {
		if x == a {
			return true
		}
	}
	return false
}

// String lists the set, for ferry explain and check.
func (s *AddrSet) String() string {
	addrs := s.Addrs()
	if len(addrs) == 0 {
		return "(none)"
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return strings.Join(out, ", ")
}
