package main

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
	// majflt cmajflt utime stime cutime cstime priority ...
	tests := []struct {
		name, in string
		want     time.Duration
		wantErr  bool
	}{
		{"own and reaped children's", "42 (squid) S 1 42 42 0 -1 4194560 10 20 0 0 150 50 7 3 20 0 1", 210 * clockTick, false},
		{"comm with spaces and parens", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20", 3 * clockTick, false},
		{"truncated", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 1 2", 0, true},
		{"not a number", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 1 x 0 0 20", 0, true},
		{"no parens", "7 x R 1", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStatCPU = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// The tool's own process: reading it works and the time only grows.
func TestTreeCPUSelf(t *testing.T) {
	c0, err := treeCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1e7; i++ { // bounded work, so there is some CPU time
		_ = i * i
	}
	c1, err := treeCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if c1 < c0 {
		t.Errorf("CPU time went back: %v then %v", c0, c1)
	}
	if _, err := treeCPU(1 << 30); err == nil {
		t.Error("treeCPU of a PID that does not exist: no error")
	}
}

func TestCPUUsePer(t *testing.T) {
	var u cpuUse
	if _, ok := u.per(10, time.Microsecond); ok {
		t.Error("no window read: want no figure")
	}
	u.add(cpuUse{d: 3 * time.Millisecond, ok: true, n: 1})
	u.add(cpuUse{}) // a direct round: no window, no change
	u.add(cpuUse{d: 1 * time.Millisecond, ok: true, n: 1})
	if v, ok := u.per(20, time.Microsecond); !ok || v != 200 {
		t.Errorf("per = %v, %v; want 200 µs per op", v, ok)
	}
	u.add(cpuUse{d: time.Millisecond, ok: false, n: 1}) // a failed reading spoils the sum
	if _, ok := u.per(20, time.Microsecond); ok {
		t.Error("a window not read: want no figure")
	}
}

func TestParseOpenRates(t *testing.T) {
	rs, err := parseOpenRates("25%, 50% ,2000")
	if err != nil {
		t.Fatal(err)
	}
	want := []openRate{{share: 0.25}, {share: 0.5}, {perSec: 2000}}
	if len(rs) != len(want) {
		t.Fatalf("rates = %v, want %v", rs, want)
	}
	for i := range want {
		if rs[i] != want[i] {
			t.Errorf("rate %d = %+v, want %+v", i, rs[i], want[i])
		}
	}
	if got := rs[0].of(8000); got != 2000 {
		t.Errorf("25%% of 8000 = %v", got)
	}
	if got := rs[2].of(8000); got != 2000 {
		t.Errorf("2000/s of any capacity = %v", got)
	}
	if rs[0].id() != "25pct" || rs[2].id() != "2000ps" || rs[0].String() != "25%" || rs[2].String() != "2000/s" {
		t.Errorf("names: %s %s %s %s", rs[0].id(), rs[2].id(), rs[0], rs[2])
	}
	for _, bad := range []string{"", "0%", "-5", "fast", "25%%", "1e9"} {
		if _, err := parseOpenRates(bad); err == nil {
			t.Errorf("parseOpenRates(%q): no error", bad)
		}
	}
}

func TestParseOpenBase(t *testing.T) {
	base, err := parseOpenBase("setup=9000, http=52000.5")
	if err != nil || base["setup"] != 9000 || base["http"] != 52000.5 || len(base) != 2 {
		t.Errorf("parseOpenBase = %v, %v", base, err)
	}
	if base, err := parseOpenBase(""); err != nil || len(base) != 0 {
		t.Errorf("empty: %v, %v", base, err)
	}
	for _, bad := range []string{"setup", "setup=0", "setup=x", "udp=5", "setup=5,"} {
		if _, err := parseOpenBase(bad); err == nil {
			t.Errorf("parseOpenBase(%q): no error", bad)
		}
	}
}

func TestOpenMetricsAdded(t *testing.T) {
	direct := loopResult{lat: []time.Duration{100 * time.Microsecond, 200 * time.Microsecond}}
	proxy := loopResult{lat: []time.Duration{150 * time.Microsecond, 900 * time.Microsecond}, errors: 2, note: "first error: x"}
	ms := openMetrics("open.connect.25pct", "open setup CONNECT", openRate{share: 0.25}, 1000, &direct, &proxy)
	if len(ms) != 3 {
		t.Fatalf("%d rows, want 3", len(ms))
	}
	if ms[0].ID != "open.connect.25pct.p50" || ms[0].Label != "open setup CONNECT at 25% p50 added" {
		t.Errorf("row 0: %s %q", ms[0].ID, ms[0].Label)
	}
	if *ms[0].Added != 50 || *ms[2].Added != 700 {
		t.Errorf("added p50 %v, p99.9 %v; want 50 and 700", *ms[0].Added, *ms[2].Added)
	}
	if got, want := cell(&ms[0]), "**+50 µs** (150 µs) 2 errors; 1000/s; first error: x"; got != want {
		t.Errorf("cell = %q, want %q", got, want)
	}
	neg := Metric{Unit: unitMicros, Proxy: num(90), Added: num(-10)}
	if got, want := cell(&neg), "**−10 µs** (90 µs)"; got != want {
		t.Errorf("cell = %q, want %q", got, want)
	}
}
