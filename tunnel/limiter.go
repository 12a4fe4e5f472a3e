package tunnel

import (
	"net/netip"
	"sync"
	"time"
)

// failLimiter slows down repeated authentication failures from one client
// network: the n-th failure in a row is answered after
// min(failBase·2^(n-1), failMax). Other clients are not held up (each
// waits on its own goroutine), and the table is bounded.
type failLimiter struct {
	now func() time.Time
	max int // entries; failTable

	mu sync.Mutex
	m  map[netip.Prefix]*failures
}

type failures struct {
	n    int
	last time.Time
}

const (
	failBase   = 200 * time.Millisecond
	failMax    = 5 * time.Second
	failForget = 10 * time.Minute // a quiet address starts over
	failTable  = 10000            // addresses tracked; past it the stalest goes
)

func newFailLimiter() *failLimiter {
	return &failLimiter{now: time.Now, max: failTable, m: map[netip.Prefix]*failures{}}
}

// clientKey groups an IPv6 client by its /64, the smallest block one
// subscriber is usually given; an IPv4 client is its address.
func clientKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, a.BitLen())
}

// failed records a failure from a and returns how long to wait before
// answering it.
func (l *failLimiter) failed(a netip.Addr) time.Duration {
	k := clientKey(a)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[k]
	if f == nil || now.Sub(f.last) > failForget {
		if f == nil && len(l.m) >= l.max {
			l.evict(now)
		}
		f = &failures{}
		l.m[k] = f
	}
	f.n++
	f.last = now
	d := failBase
	for i := 1; i < f.n && d < failMax; i++ {
		d *= 2
	}
	return min(d, failMax)
}

// succeeded forgets a's failures.
func (l *failLimiter) succeeded(a netip.Addr) {
	k := clientKey(a)
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, k)
}

// evict drops forgotten entries, or if none, the stalest one. It scans the
// table, which happens only when it is full.
func (l *failLimiter) evict(now time.Time) {
	var stalest netip.Prefix
	var oldest time.Time
	for k, f := range l.m {
		if now.Sub(f.last) > failForget {
			delete(l.m, k)
			continue
		}
		if oldest.IsZero() || f.last.Before(oldest) {
			stalest, oldest = k, f.last
		}
	}
	if len(l.m) >= l.max {
		delete(l.m, stalest)
	}
}
