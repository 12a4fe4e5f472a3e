package main

import (
	"testing"
	"time"
)

func TestReleaserCheck(t *testing.T) {
	var n, released int
	busy := heapUse{spare: releaseSpare} // allocating: never quiet
	r := &releaser{active: func() int { return n }, release: func() { released++ },
		heap: func() heapUse { busy.allocated += 2 * quietAlloc; return busy }}
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at   time.Duration
		open int
		want bool
	}{
		{0, 100, false},
		{1 * time.Second, 0, false},     // 100 ended: not worth a GC
		{2 * time.Second, 10000, false}, // a crowd
		{3 * time.Second, 6000, false},  // 4,000 ended: under half the peak
		{4 * time.Second, 3000, false},  // 7,000 ended, but still closing
		{5 * time.Second, 3000, true},   // and now settled
		{6 * time.Second, 0, false},     // 3,000 more: closing
		{7 * time.Second, 0, false},     // settled, but within releaseEvery
		{15 * time.Second, 0, true},     // later: released; the new peak is 0
		{30 * time.Second, 0, false},    // nothing more ended
		{31 * time.Second, 1500, false},
		{45 * time.Second, 400, false},
		{46 * time.Second, 400, true}, // 1,100 ended, over half the peak, settled
	}
	want := 0
	for _, s := range steps {
		n = s.open
		got := r.check(t0.Add(s.at))
		if s.want {
			want++
		}
		if got != s.want || released != want {
			t.Fatalf("at %v with %d open: released %v (%d in all), want %v (%d)", s.at, s.open, got, released, s.want, want)
		}
	}
}

// TestReleaserQuiet: a quiet ferry holding releaseSpare or more that a GC
// could return releases it, once, and not again within releaseEvery.
func TestReleaserQuiet(t *testing.T) {
	var use heapUse
	released := 0
	r := &releaser{active: func() int { return 10 }, release: func() { released++ },
		heap: func() heapUse { return use }}
	t0 := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at    time.Duration
		alloc uint64 // allocated since the previous step
		spare uint64
		want  bool
	}{
		{0, 0, 0, false},
		{1 * time.Second, 50 << 20, 20 << 20, false},               // busy
		{2 * time.Second, quietAlloc / 2, releaseSpare / 2, false}, // quiet, but little to give back
		{3 * time.Second, 50 << 20, 20 << 20, false},               // busy again
		{4 * time.Second, quietAlloc / 2, releaseSpare, true},      // quiet with enough spare
		{5 * time.Second, 50 << 20, 20 << 20, false},               // busy
		{6 * time.Second, 0, 20 << 20, false},                      // quiet, within releaseEvery
		{14 * time.Second, 0, 20 << 20, true},                      // and later
	}
	want := 0
	for _, s := range steps {
		use.allocated += s.alloc
		use.spare = s.spare
		got := r.check(t0.Add(s.at))
		if s.want {
			want++
		}
		if got != s.want || released != want {
			t.Fatalf("at %v: released %v (%d in all), want %v (%d)", s.at, got, released, s.want, want)
		}
	}
}
