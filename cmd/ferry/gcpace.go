package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// The GC's pace (issue 19 item 1: CPU per plain-HTTP request).
//
// With GOGC=100 a collection starts when the heap has doubled since the
// last one. A proxy's live heap is small while it carries little state (2
// MiB under a plain-HTTP load of 64 keep-alive clients), and each request
// leaves some 6 KiB of garbage, so the heap doubled every few hundred
// requests: a GC cycle every 20 ms, about an eighth of ferry's CPU. ferry
// lets the heap grow by at least gcHeadroom between cycles: a small
// live heap is collected as if GOGC were higher, a live heap above
// gcHeadroom as with GOGC=100. A GOGC set in the environment is the
// user's choice and is left alone.

// gcHeadroom is the least the heap may grow between two GC cycles.
const gcHeadroom = 8 << 20

var paceOnce sync.Once

// paceGC sets the GC percent after each cycle from the live heap it left,
// from the first call on.
func paceGC() {
	paceOnce.Do(func() {
		if os.Getenv("GOGC") == "" { // as the runtime reads it: empty is unset
			pace(func(p int) { debug.SetGCPercent(p) })
		}
	})
}

// pace calls set with gcPercent after each GC cycle, from the next one on
// (before it the live heap is not known).
func pace(set func(percent int)) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}
	var after func(*gcSentinel)
	after = func(*gcSentinel) {
		metrics.Read(s)
		set(gcPercent(s[0].Value.Uint64() + s[1].Value.Uint64() + s[2].Value.Uint64()))
		runtime.SetFinalizer(new(gcSentinel), after)
	}
	runtime.SetFinalizer(new(gcSentinel), after)
}

// gcSentinel is garbage at once: its finalizer runs after each GC cycle.
// A pointer keeps it out of the tiny allocator, whose blocks live as long
// as any object in them.
type gcSentinel struct{ _ *byte }

// gcPercent is the GOGC that lets the heap grow by gcHeadroom, and never
// less than 100. The runtime's goal is the live heap plus GOGC percent of
// what a cycle scans (the live heap, the stacks and the globals), but at
// least its minimum heap, 4 MiB times GOGC/100, which must not pass the
// goal wanted.
func gcPercent(scanned uint64) int {
	const minHeap = 4 << 20
	p := min(gcHeadroom*100/max(scanned, 1), (scanned+gcHeadroom)*100/minHeap)
	return int(max(p, 100))
}
