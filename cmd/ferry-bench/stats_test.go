package main

import (
	"testing"
	"time"
)

func seq(n int) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = time.Duration(i + 1)
	}
	return s
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample", []time.Duration{7}, 99.9, 7},
		{"p50 of 1..100", seq(100), 50, 50},
		{"p99 of 1..100", seq(100), 99, 99},
		{"p99.9 of 1..100 is the max", seq(100), 99.9, 100},
		{"p99.9 of 1..1000", seq(1000), 99.9, 999},
		{"p99.9 of 1..10000", seq(10000), 99.9, 9990},
		{"p100", seq(10), 100, 10},
		{"tiny p is the min", seq(10), 0.001, 1},
		{"p50 of two is the lower", []time.Duration{1, 2}, 50, 1},
		{"p51 of two", []time.Duration{1, 2}, 51, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.in, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", len(tt.in), tt.p, got, tt.want)
			}
		})
	}
}

func TestMergeSorts(t *testing.T) {
	got := merge([]latencies{{5, 1}, nil, {3, 2, 4}})
	want := []time.Duration{1, 2, 3, 4, 5}
	if len(got) != len(want) {
		t.Fatalf("merge = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("merge = %v, want %v", got, want)
		}
	}
}
