package reverse

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func backends(weights ...int) []*Backend {
	bs := make([]*Backend, len(weights))
	for i, w := range weights {
		bs[i] = newBackend(fmt.Sprintf("10.0.0.%d:443", i+1), w)
	}
	return bs
}

func seeded() func(int) int {
	r := rand.New(rand.NewPCG(1, 2))
	return r.IntN
}

// Over N picks each backend's share matches its weight.
func TestWeightsRespected(t *testing.T) {
	tests := []struct {
		name    string
		policy  Policy
		weights []int
		picks   int
		slack   float64 // allowed deviation from the exact share, as a fraction of picks
	}{
		{"round robin exact", RoundRobin, []int{5, 1, 1}, 700, 0},
		{"round robin equal", RoundRobin, []int{1, 1, 1, 1}, 400, 0},
		{"source hash", SourceHash, []int{3, 1}, 20000, 0.02},
		{"p2c", P2C, []int{3, 1}, 20000, 0.03},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := backends(tt.weights...)
			p := NewPool("r", tt.policy, HealthConfig{}, bs, seeded())
			count := map[*Backend]int{}
			total := 0
			for _, w := range tt.weights {
				total += w
			}
			for i := range tt.picks {
				client := netip.AddrFrom4([4]byte{192, 0, byte(i >> 8), byte(i)})
				b := p.Pick(client, nil)
				if b == nil {
					t.Fatal("no backend")
				}
				count[b]++
			}
			for i, b := range bs {
				want := float64(tt.picks) * float64(tt.weights[i]) / float64(total)
				if d := float64(count[b]) - want; d > tt.slack*float64(tt.picks)+0.5 || -d > tt.slack*float64(tt.picks)+0.5 {
					t.Errorf("backend %d (weight %d): %d picks, want %.0f", i, tt.weights[i], count[b], want)
				}
			}
		})
	}
}

// Smooth round-robin spaces a heavy backend out instead of bunching it.
func TestRoundRobinSmooth(t *testing.T) {
	bs := backends(5, 1, 1)
	p := NewPool("r", RoundRobin, HealthConfig{}, bs, nil)
	got := ""
	for range 7 {
		got += map[*Backend]string{bs[0]: "a", bs[1]: "b", bs[2]: "c"}[p.Pick(netip.Addr{}, nil)]
	}
	if got != "aabacaa" {
		t.Fatalf("sequence %q, want aabacaa (nginx smooth weighted round-robin)", got)
	}
}

// Affinity: a client keeps its backend; when another backend goes down no
// client of a surviving backend moves, and the down backend's clients
// spread over the rest and come back when it does.
func TestSourceHashAffinity(t *testing.T) {
	bs := backends(1, 1, 1, 1)
	p := NewPool("r", SourceHash, HealthConfig{}, bs, nil)
	first := map[netip.Addr]*Backend{}
	for i := range 1000 {
		c := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
		first[c] = p.Pick(c, nil)
		if again := p.Pick(c, nil); again != first[c] {
			t.Fatalf("client %v moved from %s to %s with nothing down", c, first[c].Address, again.Address)
		}
	}
	bs[2].markFailed(p.now(), 0)
	moved := 0
	for c, b := range first {
		now := p.Pick(c, nil)
		switch {
		case b == bs[2] && now == bs[2]:
			t.Fatalf("client %v still sent to the down backend", c)
		case b != bs[2] && now != b:
			t.Fatalf("client %v of a healthy backend moved", c)
		case b == bs[2]:
			moved++
		}
	}
	if moved < 150 || moved > 350 {
		t.Fatalf("%d of 1000 clients were on the failed backend, want about 250", moved)
	}
	bs[2].markOK()
	for c, b := range first {
		if p.Pick(c, nil) != b {
			t.Fatalf("client %v did not return to its backend", c)
		}
	}
}

func TestLeastConn(t *testing.T) {
	bs := backends(1, 2, 1)
	p := NewPool("r", LeastConn, HealthConfig{}, bs, nil)
	bs[0].active.Store(3)
	bs[1].active.Store(4) // 2 per unit of weight
	bs[2].active.Store(1)
	if b := p.Pick(netip.Addr{}, nil); b != bs[2] {
		t.Fatalf("picked %s, want the least loaded %s", b.Address, bs[2].Address)
	}
	bs[2].active.Store(5)
	if b := p.Pick(netip.Addr{}, nil); b != bs[1] {
		t.Fatalf("picked %s, want %s (4 conns over weight 2)", b.Address, bs[1].Address)
	}
	// Ties rotate.
	for _, b := range bs {
		b.active.Store(0)
		b.Weight = 1
	}
	seen := map[*Backend]bool{}
	for range 3 {
		seen[p.Pick(netip.Addr{}, nil)] = true
	}
	if len(seen) != 3 {
		t.Fatalf("equal backends: %d of 3 used in 3 picks", len(seen))
	}
}

// p2c never picks the more loaded of its two draws, so with one backend
// far busier than the rest it is picked only when both draws hit it,
// which cannot happen: the draws differ.
func TestP2CAvoidsLoaded(t *testing.T) {
	bs := backends(1, 1, 1)
	p := NewPool("r", P2C, HealthConfig{}, bs, seeded())
	bs[0].active.Store(100)
	for i := range 300 {
		if b := p.Pick(netip.Addr{}, nil); b == bs[0] {
			t.Fatalf("pick %d took the loaded backend", i)
		}
	}
	// With one eligible backend it is taken, loaded or not.
	if b := p.Pick(netip.Addr{}, []*Backend{bs[1], bs[2]}); b != bs[0] {
		t.Fatalf("got %v, want the only one left", b)
	}
}

// Pick skips down and already tried backends and says nil when none is left.
func TestPickSkips(t *testing.T) {
	for _, policy := range []Policy{RoundRobin, LeastConn, SourceHash, P2C} {
		t.Run(string(policy), func(t *testing.T) {
			bs := backends(1, 1, 1)
			p := NewPool("r", policy, HealthConfig{}, bs, seeded())
			bs[0].markFailed(p.now(), 0)
			client := netip.MustParseAddr("203.0.113.9")
			var tried []*Backend
			for range 2 {
				b := p.Pick(client, tried)
				if b == nil || b == bs[0] {
					t.Fatalf("picked %v", b)
				}
				tried = append(tried, b)
			}
			if b := p.Pick(client, tried); b != nil {
				t.Fatalf("picked %s with every backend down or tried", b.Address)
			}
		})
	}
}

var netipZero = netip.Addr{}
