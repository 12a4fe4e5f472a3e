package main

import (
	"context"
	"runtime/debug"
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

const (
	releaseCheck = time.Second      // how often the connection count is read
	releaseEvery = 10 * time.Second // at most one release per this
	// releaseMin is how many connections must have ended since the peak
	// before a release is worth a GC: at ~5 KiB each, 5 MiB.
	releaseMin = 1000
)

// releaser decides when to give memory back, from the count of open
// connections it reads on each check.
type releaser struct {
	active  func() int
	release func() // debug.FreeOSMemory; tests count calls
	peak    int
	prev    int       // the count at the previous check
	last    time.Time // of the last release
}

// check reads the count at now and releases when it has fallen by half its
// peak since the last release (and by releaseMin at least) and held still
// since the previous check, unless it released less than releaseEvery
// ago. It reports whether it released.
func (r *releaser) check(now time.Time) bool {
	n := r.active()
	settled := n == r.prev
	r.prev = n
	if n > r.peak {
		r.peak = n
		return false
	}
	if r.peak-n < max(releaseMin, r.peak/2) || !settled || now.Sub(r.last) < releaseEvery {
		return false
	}
	r.peak, r.last = n, now
	r.release()
	return true
}

// releaseMemory runs r's checks every releaseCheck until ctx ends.
func releaseMemory(ctx context.Context, active func() int) {
	r := &releaser{active: active, release: debug.FreeOSMemory}
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
