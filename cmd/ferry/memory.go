package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Memory back after a crowd of connections leaves (issue 19 item 1).
//
// Go's heap keeps what a burst of connections used: the next GC cycle
// starts only when the heap grows again, which a proxy whose load fell
// may not do until the runtime's forced GC two minutes later, and the
// scavenger then returns pages at its own slow pace. A user watching RSS
// sees the peak stay (50 MiB above the start a minute after 10,000 tunnels
// closed). So when the open connections have fallen well below their
// peak and stopped falling, ferry collects and returns the freed pages to
// the system (debug.FreeOSMemory): one GC's worth of CPU, at most once
// per releaseEvery, and not while connections are still closing in
// numbers, whose fds it would slow down.
//
// The same when ferry falls quiet: the heap may hold gcHeadroom of
// garbage between GC cycles (gcpace.go), which an idle proxy would keep
// until the runtime's forced GC. Once a check finds almost nothing
// allocated since the previous one and at least releaseSpare that a GC
// could give back, ferry releases it.

const (
	releaseCheck = time.Second      // how often the connection count is read
	releaseEvery = 10 * time.Second // at most one release per this
	// releaseMin is how many connections must have ended since the peak
	// before a release is worth a GC: at ~5 KiB each, 5 MiB.
	releaseMin = 1000
	// quietAlloc is what may be allocated between two checks of a quiet
	// ferry: well under a light steady load's (150 plain-HTTP requests a
	// second allocate 0.9 MiB), which the paced GC keeps without a forced
	// release every releaseEvery. releaseSpare is what a release must at
	// least be able to return.
	quietAlloc   = 64 << 10
	releaseSpare = 8 << 20
)

// heapUse is what the releaser reads of the heap.
type heapUse struct {
	allocated uint64 // in all since the start
	spare     uint64 // garbage and free pages not yet returned
}

// readHeap reads heapUse from the runtime's metrics.
func readHeap() heapUse {
	s := []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	metrics.Read(s)
	objects, live := s[1].Value.Uint64(), s[2].Value.Uint64()
	return heapUse{allocated: s[0].Value.Uint64(), spare: objects - min(live, objects) + s[3].Value.Uint64()}
}

// releaser decides when to give memory back, from the count of open
// connections it reads on each check.
type releaser struct {
	active  func() int
	heap    func() heapUse
	release func() // debug.FreeOSMemory; tests count calls
	peak    int
	prev    int       // the count at the previous check
	prevUse heapUse   // the heap at the previous check
	last    time.Time // of the last release
}

// check reads the count and the heap at now and releases when the count
// has fallen by half its peak since the last release (and by releaseMin
// at least) and held still since the previous check, or when ferry is
// quiet with releaseSpare to give back, unless it released less than
// releaseEvery ago. It reports whether it released.
func (r *releaser) check(now time.Time) bool {
	n, use := r.active(), r.heap()
	settled, quiet := n == r.prev, use.allocated-r.prevUse.allocated < quietAlloc
	r.prev, r.prevUse = n, use
	if n > r.peak {
		r.peak = n
		return false
	}
	crowdLeft := r.peak-n >= max(releaseMin, r.peak/2) && settled
	idle := quiet && use.spare >= releaseSpare
	if !crowdLeft && !idle || now.Sub(r.last) < releaseEvery {
		return false
	}
	r.peak, r.last = n, now
	r.release()
	return true
}

// releaseMemory runs r's checks every releaseCheck until ctx ends.
func releaseMemory(ctx context.Context, active func() int) {
	r := &releaser{active: active, heap: readHeap, release: debug.FreeOSMemory}
	t := time.NewTicker(releaseCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.check(now)
		}
	}
}
