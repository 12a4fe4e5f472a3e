package reverse

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Policy names how a Pool chooses among its healthy backends.
type Policy string

// Balancing policies.
const (
	RoundRobin Policy = "round_robin" // smooth weighted round-robin (as nginx): even spacing, weights respected
	LeastConn  Policy = "least_conn"  // fewest open connections per unit of weight
	SourceHash Policy = "source_hash" // affinity: weighted rendezvous hash of the client IP
	P2C        Policy = "p2c"         // power of two random choices, the less loaded wins
)

// balancer chooses the index of one eligible backend, or -1.
type balancer interface {
	pick(bs []*Backend, client netip.Addr, eligible func(i int) bool) int
}

func newBalancer(p Policy, n int, randN func(int) int) balancer {
	switch p {
	case LeastConn:
		return &leastConn{}
	case SourceHash:
		return sourceHash{}
	case P2C:
		if randN == nil {
			randN = rand.IntN
		}
		return p2c{randN: randN}
	default:
		return &roundRobin{cur: make([]int, n)}
	}
}

// roundRobin is nginx's smooth weighted round-robin: each pick adds every
// eligible backend's weight to its current value and takes the largest,
// which then gives back the total. Weights 5,1,1 give a a b a c a a, not
// a a a a a b c.
type roundRobin struct {
	mu  sync.Mutex
	cur []int
}

func (r *roundRobin) pick(bs []*Backend, _ netip.Addr, eligible func(int) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	best, total := -1, 0
	for i, b := range bs {
		if !eligible(i) {
			continue
		}
		r.cur[i] += b.Weight
		total += b.Weight
		if best < 0 || r.cur[i] > r.cur[best] {
			best = i
		}
	}
	if best >= 0 {
		r.cur[best] -= total
	}
	return best
}

// leastConn takes the backend with the fewest open connections per unit of
// weight. Ties are broken by a rotating start so equal backends share the
// load instead of the first taking every new connection.
type leastConn struct{ next atomic.Uint64 }

func (l *leastConn) pick(bs []*Backend, _ netip.Addr, eligible func(int) bool) int {
	n := len(bs)
	start := int(l.next.Add(1) % uint64(max(n, 1)))
	best := -1
	for k := range n {
		i := (start + k) % n
		if !eligible(i) {
			continue
		}
		if best < 0 || lessLoaded(bs[i], bs[best]) {
			best = i
		}
	}
	return best
}

// lessLoaded compares active/weight without division.
func lessLoaded(a, b *Backend) bool {
	return a.Active()*int64(b.Weight) < b.Active()*int64(a.Weight)
}

// sourceHash is weighted rendezvous (highest random weight) hashing: each
// backend scores w / -ln(u) with u a hash of (client IP, backend address),
// and the highest score wins. A client keeps its backend while that backend
// is healthy; when one goes down only its own clients move, and they come
// back when it returns. The hash is fixed (FNV-1a, no per-process seed), so
// every ferry of a fleet and every restart agree.
type sourceHash struct{}

func (sourceHash) pick(bs []*Backend, client netip.Addr, eligible func(int) bool) int {
	ip := client.Unmap().As16()
	best, bestScore := -1, 0.0
	for i, b := range bs {
		if !eligible(i) {
			continue
		}
		s := rendezvousScore(ip[:], b.Address, b.Weight)
		if best < 0 || s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

func rendezvousScore(ip []byte, addr string, weight int) float64 {
	h := fnv.New64a()
	h.Write(ip)
	h.Write([]byte(addr))
	x := mix64(h.Sum64())
	u := (float64(x>>11) + 0.5) / (1 << 53) // uniform in (0, 1)
	return float64(weight) / -math.Log(u)
}

// mix64 is the splitmix64 finalizer: FNV alone spreads similar inputs
// (neighbouring IPs) poorly in its high bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// p2c draws two different eligible backends at random (by weight) and
// takes the one with fewer connections per unit of weight: nearly the
// balance of least-connections without every ferry of a fleet piling onto
// the same "least" backend at once.
type p2c struct{ randN func(int) int }

func (p p2c) pick(bs []*Backend, _ netip.Addr, eligible func(int) bool) int {
	a := p.draw(bs, eligible, -1)
	if a < 0 {
		return -1
	}
	b := p.draw(bs, eligible, a)
	if b < 0 || !lessLoaded(bs[b], bs[a]) {
		return a
	}
	return b
}

// draw picks an eligible index other than not, with probability
// proportional to weight.
func (p p2c) draw(bs []*Backend, eligible func(int) bool, not int) int {
	total := 0
	for i, b := range bs {
		if i != not && eligible(i) {
			total += b.Weight
		}
	}
	if total == 0 {
		return -1
	}
	r := p.randN(total)
	for i, b := range bs {
		if i == not || !eligible(i) {
			continue
		}
		if r < b.Weight {
			return i
		}
		r -= b.Weight
	}
	return -1
}
