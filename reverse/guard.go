package reverse

import (
	"net/netip"
	"sync"
)

// Guard is a source allow/deny list for a listener or a route. A deny entry
// wins; a non-empty Allow admits only the addresses it lists.
//
// It is not an acl.MatchSet with a client matcher, though that checks the
// same thing: a MatchSet tells only whether some entry matched, while the
// access event's rule names the entry that decided; acl also refuses a CIDR
// with host bits set where these lists mask it (ParsePrefix), so
// configs that load today would stop loading. A linear scan is fine for
// the handful of CIDRs a listener carries.
type Guard struct {
	Allow []netip.Prefix
	Deny  []netip.Prefix
}

// Check reports whether ip may connect and, when it may not, the entry
// that decided ("deny 10.0.0.0/8", or "allow" when no allow entry matched).
func (g *Guard) Check(ip netip.Addr) (ok bool, rule string) {
	ip = ip.Unmap().WithZone("") // a zone is no part of the address a CIDR names
	for _, p := range g.Deny {
		if p.Contains(ip) {
			return false, "deny " + p.String()
		}
	}
	if len(g.Allow) == 0 {
		return true, ""
	}
	for _, p := range g.Allow {
		if p.Contains(ip) {
			return true, "allow " + p.String()
		}
	}
	return false, "allow (no entry matched)"
}

// Empty reports whether the guard admits everything.
func (g *Guard) Empty() bool { return len(g.Allow) == 0 && len(g.Deny) == 0 }

func containsAny(ps []netip.Prefix, ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("") // a zone is no part of the address a CIDR names
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ipCounter counts open connections per client address for a listener; it
// outlives reloads so a new limit applies to connections already open.
type ipCounter struct {
	mu sync.Mutex
	n  map[netip.Addr]int
}

// acquire counts one more connection from ip unless that would pass limit
// (0: no limit). It reports whether the connection may go on.
func (c *ipCounter) acquire(ip netip.Addr, limit int) bool {
	ip = ip.Unmap()
	c.mu.Lock()
	defer c.mu.Unlock()
	if limit > 0 && c.n[ip] >= limit {
		return false
	}
	if c.n == nil {
		c.n = map[netip.Addr]int{}
	}
	c.n[ip]++
	return true
}

func (c *ipCounter) release(ip netip.Addr) {
	ip = ip.Unmap()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[ip] <= 1 {
		delete(c.n, ip)
		return
	}
	c.n[ip]--
}
