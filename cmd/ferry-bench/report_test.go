package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		v    float64
		unit string
		want string
	}{
		{3 << 30, unitBytesPerSec, "3.00 GiB/s"},
		{512 << 20, unitBytesPerSec, "512 MiB/s"},
		{12345.6, unitPerSec, "12346/s"},
		{850, unitMicros, "850 µs"},
		{1250, unitMicros, "1.25 ms"},
		{2.5e6, unitMicros, "2.50 s"},
		{9.87, unitKiB, "9.9 KiB"},
		{2, unitFDs, "2.00"},
		{0.314, unitSeconds, "0.31 s"},
		{9931, unitCount, "9931"},
		{212.4, unitMsPerGiB, "212 ms/GiB"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := format(tt.v, tt.unit); got != tt.want {
				t.Errorf("format(%v, %s) = %q, want %q", tt.v, tt.unit, got, tt.want)
			}
		})
	}
}

func TestPairRatio(t *testing.T) {
	m := pair("x", "x", unitPerSec, 200, 50)
	if m.Ratio == nil || *m.Ratio != 0.25 {
		t.Errorf("ratio = %v, want 0.25", m.Ratio)
	}
	if m := pair("x", "x", unitPerSec, 0, 50); m.Ratio != nil {
		t.Errorf("ratio with a zero baseline = %v, want none", *m.Ratio)
	}
}

func sampleRuns() []*Report {
	ferry := &Report{Name: "ferry", Metrics: []Metric{
		pair("bulk.connect.up.1", "bulk CONNECT up, 1 tunnel", unitBytesPerSec, 2<<30, 1<<30),
		pair("setup.connect.rate", "setup CONNECT tunnels/s", unitPerSec, 10000, 5000),
		{ID: "idle.fds", Label: "idle fds per tunnel", Unit: unitFDs, Proxy: num(2)},
	}}
	socksOnly := &Report{Name: "microsocks", Metrics: []Metric{
		{ID: "idle.fds", Label: "idle fds per tunnel", Unit: unitFDs, Proxy: num(2)},
		{ID: "setup.socks5.rate", Label: "setup SOCKS5 tunnels/s", Unit: unitPerSec, Direct: num(9000), Proxy: num(900), Ratio: num(0.1), Errors: 3, Note: "first error: a|b"},
	}}
	return []*Report{ferry, socksOnly}
}

func TestWriteComparison(t *testing.T) {
	var b bytes.Buffer
	if err := writeComparison(&b, sampleRuns()); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"| figure | direct | ferry | microsocks |",
		"|---|---|---|---|",
		"| bulk CONNECT up, 1 tunnel | 2.00 GiB/s | **0.50** (1.00 GiB/s) | — |",
		"| setup CONNECT tunnels/s | 10000/s | **0.50** (5000/s) | — |",
		"| setup SOCKS5 tunnels/s | 9000/s | — | **0.10** (900/s) 3 errors; first error: a\\|b |",
		"| idle fds per tunnel | — | 2.00 | 2.00 |",
		"",
	}, "\n")
	if got := b.String(); got != want {
		t.Errorf("comparison:\n%s\nwant:\n%s", got, want)
	}
}

func TestDirectRange(t *testing.T) {
	a := pair("x", "x", unitPerSec, 9000, 1)
	c := pair("x", "x", unitPerSec, 11000, 1)
	if got, want := directRange([]*Metric{&a, nil, &c}), "9000/s – 11000/s"; got != want {
		t.Errorf("directRange = %q, want %q", got, want)
	}
}

func TestWriteTable(t *testing.T) {
	r := sampleRuns()[0]
	r.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r.Duration = 3
	var b bytes.Buffer
	if err := writeTable(&b, r); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("table has %d lines, want 5:\n%s", len(lines), b.String())
	}
	if !strings.HasPrefix(lines[0], "ferry-bench ferry  2026-01-02T03:04:05Z  window 3s") {
		t.Errorf("title = %q", lines[0])
	}
	for i, want := range [][]string{
		{"figure", "direct", "proxy", "proxy/direct"},
		{"bulk CONNECT up, 1 tunnel", "2.00 GiB/s", "1.00 GiB/s", "0.50"},
		{"setup CONNECT tunnels/s", "10000/s", "5000/s", "0.50"},
		{"idle fds per tunnel", "—", "2.00"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("line %d = %q, want it to hold %q", i+1, lines[i+1], w)
			}
		}
	}
}

// What -json writes, -merge reads back.
func TestJSONRoundTrip(t *testing.T) {
	var b bytes.Buffer
	in := sampleRuns()[1]
	if err := writeJSON(&b, in); err != nil {
		t.Fatal(err)
	}
	runs, err := readReports(func(string) ([]byte, error) { return b.Bytes(), nil }, []string{"m.json"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(runs[0])
	want, _ := json.Marshal(in)
	if string(got) != string(want) {
		t.Errorf("round trip:\n%s\nwant\n%s", got, want)
	}
}

func TestMedianRuns(t *testing.T) {
	run := func(name string, rate float64, rss *float64) *Report {
		ms := []Metric{pair("setup.connect.rate", "setup CONNECT tunnels/s", unitPerSec, 10000, rate)}
		back := Metric{ID: "idle.rss_back", Label: "idle RSS back after close", Unit: unitSeconds, Proxy: rss}
		if rss == nil {
			back.Note = "not within 1m0s"
		}
		return &Report{Name: name, Metrics: append(ms, back)}
	}
	runs := []*Report{
		run("ferry", 5000, nil), run("squid", 2000, num(1)),
		run("ferry", 3000, num(2)), run("squid", 2500, num(3)),
		run("ferry", 4000, num(1)),
	}
	got := medianRuns(runs)
	if len(got) != 2 || got[0].Name != "ferry ×3" || got[1].Name != "squid ×2" {
		t.Fatalf("names: %v", []string{got[0].Name, got[len(got)-1].Name})
	}
	rate := got[0].Metrics[0]
	if *rate.Proxy != 4000 || *rate.Ratio != 0.4 {
		t.Errorf("ferry's median rate = %v (ratio %v), want 4000 (0.40)", *rate.Proxy, *rate.Ratio)
	}
	// No value (not back) sorts as the worst: the median of 1, 2, none is 2.
	if back := got[0].Metrics[1]; back.Proxy == nil || *back.Proxy != 2 {
		t.Errorf("ferry's median RSS back = %+v, want 2 s", back)
	}
	if r := got[1].Metrics[0]; *r.Proxy != 2000 { // even count: the lower middle
		t.Errorf("squid's median rate = %v, want 2000", *r.Proxy)
	}
	if one := medianRuns(runs[:2]); one[0].Name != "ferry" {
		t.Errorf("a lone run is renamed: %q", one[0].Name)
	}
}
