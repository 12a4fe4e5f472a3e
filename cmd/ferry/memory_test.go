package main

import (
	"testing"
	"time"
)

func TestReleaserCheck(t *testing.T) {
	var n, released int
	r := &releaser{active: func() int { return n }, release: func() { released++ }}
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
