package reverse

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Backend is one member of a Pool. Its health and its count of open
// connections (its *health) survive a reload that keeps it (same listener,
// route and address), so least_conn stays right while old connections
// finish and a reload does not bring a dead backend back.
type Backend struct {
	Address string // host:port as configured
	Weight  int    // relative share; default 1
	*health
}

// health is the part of a Backend that reloads carry over.
type health struct {
	active atomic.Int64
	up     atomic.Bool

	mu      sync.Mutex
	okRun   int       // consecutive good checks while down
	failRun int       // consecutive failed checks while up
	retryAt time.Time // with no active checks: when a passively failed backend is tried again
}

func newBackend(addr string, weight int) *Backend {
	b := &Backend{Address: addr, Weight: max(weight, 1), health: &health{}}
	b.up.Store(true) // as haproxy: up until checks say otherwise, so a start or reload refuses nobody
	return b
}

// Active reports the connections open through b now.
func (b *Backend) Active() int64 { return b.active.Load() }

// Up reports whether b is taking new connections.
func (b *Backend) Up() bool { return b.up.Load() }

// observe applies one active check result: fall consecutive failures take
// an up backend down, rise consecutive successes bring a down one back. It
// reports whether the state changed.
func (b *Backend) observe(ok bool, rise, fall int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	up := b.up.Load()
	if ok {
		b.failRun = 0
		if up {
			return false
		}
		b.okRun++
		if b.okRun < rise {
			return false
		}
		b.okRun = 0
		b.up.Store(true)
		return true
	}
	b.okRun = 0
	if !up {
		return false
	}
	b.failRun++
	if b.failRun < fall {
		return false
	}
	b.failRun = 0
	b.up.Store(false)
	return true
}

// markFailed is passive health: a failed dial takes b down at once. Active
// checks then need rise successes to bring it back; without them it is
// tried again after retryAfter.
func (b *Backend) markFailed(now time.Time, retryAfter time.Duration) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.okRun, b.failRun = 0, 0
	b.retryAt = now.Add(retryAfter)
	return b.up.Swap(false)
}

// markOK records a successful dial; it only matters with no active checks,
// where it is what brings a retried backend back.
func (b *Backend) markOK() bool {
	if b.up.Load() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.okRun, b.failRun = 0, 0
	return !b.up.Swap(true)
}

func (b *Backend) retryDue(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !now.Before(b.retryAt)
}

// Pool is a route's backends and the policy that picks among them.
type Pool struct {
	Route    string
	Policy   Policy
	Health   HealthConfig
	backends []*Backend
	bal      balancer
	now      func() time.Time
}

// NewPool returns a pool over backends. randN, when not nil, is the random
// source of p2c (tests make it deterministic).
func NewPool(route string, policy Policy, health HealthConfig, backends []*Backend, randN func(int) int) *Pool {
	health.setDefaults()
	return &Pool{
		Route:    route,
		Policy:   policy,
		Health:   health,
		backends: backends,
		bal:      newBalancer(policy, len(backends), randN),
		now:      time.Now,
	}
}

// Backends lists the pool's members.
func (p *Pool) Backends() []*Backend { return p.backends }

// Pick chooses a backend for client among those up and not in tried, or
// returns nil when there is none.
func (p *Pool) Pick(client netip.Addr, tried []*Backend) *Backend {
	passive := p.Health.Check == CheckNone
	var now time.Time
	if passive {
		now = p.now()
	}
	i := p.bal.pick(p.backends, client, func(i int) bool {
		b := p.backends[i]
		if slices.Contains(tried, b) {
			return false
		}
		return b.Up() || passive && b.retryDue(now)
	})
	if i < 0 {
		return nil
	}
	return p.backends[i]
}

// Down counts the backends not taking connections.
func (p *Pool) Down() int {
	n := 0
	for _, b := range p.backends {
		if !b.Up() {
			n++
		}
	}
	return n
}
