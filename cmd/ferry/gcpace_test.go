package main

import (
	"runtime"
	"testing"
	"time"
)

// TestGCPercent: under gcPercent the runtime's heap goal (the scanned
// bytes plus GOGC percent of them, and at least 4 MiB times GOGC/100) is
// gcHeadroom above the scanned bytes, or twice them once that is more
// (GOGC=100): its minimum heap does not raise the goal past that.
func TestGCPercent(t *testing.T) {
	const minHeap = 4 << 20
	for _, scanned := range []uint64{0, 64 << 10, 1 << 20, 3 << 20, 6 << 20, gcHeadroom, 100 << 20} {
		p := uint64(gcPercent(scanned))
		goal := max(minHeap*p/100, scanned+scanned*p/100)
		want := max(scanned+gcHeadroom, 2*scanned)
		if p < 100 || goal > want+want/50 || goal < want-want/50 {
			t.Errorf("scanned %d KiB: GOGC %d, goal %d KiB; want %d KiB", scanned>>10, p, goal>>10, want>>10)
		}
	}
}

// TestPace: after each GC cycle the percent is set again.
func TestPace(t *testing.T) {
	set := make(chan int, 1)
	pace(func(p int) {
		select {
		case set <- p:
		default:
		}
	})
	for cycle := range 2 {
		runtime.GC()
		select {
		case p := <-set:
			if p < 100 {
				t.Fatalf("cycle %d: GOGC %d", cycle, p)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("cycle %d: no percent set after a GC", cycle)
		}
	}
}
