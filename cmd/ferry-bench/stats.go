package main

import (
	"slices"
	"time"
)

// latencies collects one worker's samples. Workers own one each (no lock in
// the hot loop); they are merged once the window closes.
type latencies []time.Duration

// newLatencies preallocates room for n samples, so a run of the expected
// length appends without growing.
func newLatencies(n int) latencies { return make(latencies, 0, n) }

// merge concatenates the workers' samples and sorts them for percentile.
func merge(parts []latencies) []time.Duration {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	all := make([]time.Duration, 0, n)
	for _, p := range parts {
		all = append(all, p...)
	}
	slices.Sort(all)
	return all
}

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// sorted: the smallest sample such that at least p% of the samples are ≤ it.
// It is 0 for no samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// rank = ceil(p/100 · n), computed in integers of 1/1000 percent so
	// that 99.9 of 1000 is exactly rank 999, not 999.0000000001 → 1000.
	milli := int64(p*1000 + 0.5)
	rank := int((milli*int64(n) + 100_000 - 1) / 100_000)
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}
