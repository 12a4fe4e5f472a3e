package cache

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

var ageTests = []struct {
	name  string
	lines []string
	want  int64
	ok    bool
}{
	{"plain", []string{"30"}, 30, true},
	{"zero", []string{"0"}, 0, true},
	{"spaces around", []string{" \t30 "}, 30, true},
	{"list: first member counts", []string{"7200, 0"}, 7200, true},
	{"list: first member counts, small first", []string{"0, 7200"}, 0, true},
	{"list with empty elements first", []string{", ,7200"}, 7200, true},
	{"two lines: the first counts", []string{"7200", "0"}, 7200, true},
	{"two lines, empty first", []string{"", "7200"}, 7200, true},
	{"parameter after the number", []string{"7200;foo=bar"}, 7200, true},
	{"numeric parameter", []string{"7200 ; foo=111"}, 7200, true},
	{"saturates at 2^31", []string{"2147483649"}, maxDelta, true},
	{"huge", []string{strings.Repeat("9", 400)}, maxDelta, true},
	{"negative", []string{"-7200"}, 0, false},
	{"fractional", []string{"7200.0"}, 0, false},
	{"non-numeric", []string{"abc"}, 0, false},
	{"plus sign", []string{"+5"}, 0, false},
	{"digits then junk", []string{"12 34"}, 0, false},
	{"parameter without a number", []string{";a=1"}, 0, false},
	{"absent", nil, 0, false},
	{"only empty", []string{"", " , "}, 0, false},
}

func TestAgeValue(t *testing.T) {
	for _, tt := range ageTests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := ageValue(tt.lines); got != tt.want || ok != tt.ok {
				t.Errorf("ageValue(%q) = %d, %v; want %d, %v", tt.lines, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzAgeValue: no panic; a value is never negative nor past 2^31; a
// usable Age is the first member's leading digits.
func FuzzAgeValue(f *testing.F) {
	for _, tt := range ageTests {
		f.Add(strings.Join(tt.lines, "\n"))
	}
	f.Fuzz(func(t *testing.T, s string) {
		lines := strings.Split(s, "\n")
		n, ok := ageValue(lines)
		if n < 0 || n > maxDelta || !ok && n != 0 {
			t.Fatalf("ageValue(%q) = %d, %v", lines, n, ok)
		}
		// The response is never younger than its Age says: the
		// corrected initial age covers it.
		now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
		h := http.Header{"Age": lines}
		if got := initialAge(h, now, now, now); ok && got < seconds(n) {
			t.Fatalf("initial age %v below Age %d", got, n)
		}
	})
}

// TestAgeConformance is §5.1 through the Transport: the Age a response
// arrives with decides whether it is still fresh a second later.
func TestAgeConformance(t *testing.T) {
	stale := []step{
		{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
		{advance: time.Second, cache: "fwd=stale; fwd-status=200; stored", hits: 2},
	}
	fresh := []step{
		{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
		{advance: time.Second, cache: "hit; ttl=3599", want: map[string]string{"Age": "1"}, hits: 1},
	}
	aged := func(values ...string) originFunc {
		fields := []string{"Cache-Control", "max-age=3600"}
		for _, v := range values {
			fields = append(fields, "Age", v)
		}
		return lines(200, "a", fields...)
	}
	runCases(t, []conformanceCase{
		{name: "Age 2147483648 is stale", origin: aged("2147483648"), steps: stale},
		{name: "Age past 2^31 is stale", origin: aged("99999999999999999999"), steps: stale},
		{name: "one line 7200, 0: the first member, stale", origin: aged("7200, 0"), steps: stale},
		{name: "one line 0, 7200: the first member, fresh", origin: aged("0, 7200"), steps: fresh},
		{name: "two lines 7200 and 0: the first, stale", origin: aged("7200", "0"), steps: stale},
		{name: "two lines 0 and 7200: the first, fresh", origin: aged("0", "7200"), steps: fresh},
		{name: "two lines 0 and 0: fresh", origin: aged("0", "0"), steps: fresh},
		{name: "7200 with a parameter: stale", origin: aged("7200;foo=bar"), steps: stale},
		{name: "7200 with a numeric parameter: stale", origin: aged("7200;foo=111"), steps: stale},
		{name: "a negative Age is ignored", origin: aged("-7200"), steps: fresh},
		{name: "a fractional Age is ignored", origin: aged("7200.0"), steps: fresh},
		{name: "a non-numeric Age is ignored", origin: aged("abc"), steps: fresh},
	})
}

// TestInitialAge is §4.2.3's corrected_initial_age: the Age received
// counts from when the request was sent (response_delay added), and the
// clocks' apparent age wins when it is larger.
func TestInitialAge(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name            string
		age             []string
		date, req, resp time.Time
		want            time.Duration
	}{
		{"Age plus the response delay", []string{"30"}, t0.Add(3 * time.Second), t0, t0.Add(3 * time.Second), 33 * time.Second},
		{"apparent age wins", []string{"5"}, t0.Add(-time.Minute), t0, t0.Add(time.Second), time.Minute + time.Second},
		{"a Date in the future gives no negative age", nil, t0.Add(time.Hour), t0, t0, 0},
		{"an ignored Age: the delay alone", []string{"-30"}, t0.Add(2 * time.Second), t0, t0.Add(2 * time.Second), 2 * time.Second},
	}
	for _, tt := range tests {
		if got := initialAge(http.Header{"Age": tt.age}, tt.date, tt.req, tt.resp); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
