package cache

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestVaryFields(t *testing.T) {
	tests := []struct {
		name      string
		lines     []string
		want      []string
		matchable bool
	}{
		{"none", nil, nil, true},
		{"one", []string{"accept-encoding"}, []string{"Accept-Encoding"}, true},
		{"sorted, deduplicated over lines", []string{"B, a", " A ,, b"}, []string{"A", "B"}, true},
		{"star", []string{"Accept", "*"}, nil, false},
		{"at the bound", []string{manyVary(maxVaryFields)}, nil, true},
		{"past the bound", []string{manyVary(maxVaryFields + 1)}, nil, false},
		{"past the bound by repeats", []string{strings.Repeat("Accept, ", maxVaryFields+1)}, nil, false},
		{"64k names", []string{manyVary(64 << 10)}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, matchable := varyFields(http.Header{"Vary": tt.lines})
			if matchable != tt.matchable || tt.want != nil && !slices.Equal(got, tt.want) {
				t.Errorf("varyFields(%.60q) = %q, %v; want %q, %v", tt.lines, got, matchable, tt.want, tt.matchable)
			}
			if tt.name == "at the bound" && len(got) != maxVaryFields {
				t.Errorf("%d fields, want %d", len(got), maxVaryFields)
			}
		})
	}
}

// TestVaryBound: a response varying on up to maxVaryFields fields is
// stored and matched; one naming more is passed on unstored (#20 item 9).
func TestVaryBound(t *testing.T) {
	hdr := map[string]string{"X-F0": "a", "X-F31": "b"}
	runCases(t, []conformanceCase{
		{
			name:   "at the bound",
			origin: fixed(200, "v", "Cache-Control", "max-age=60", "Vary", manyVary(maxVaryFields)),
			steps: []step{
				{header: hdr, cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{header: hdr, cache: "hit; ttl=60", hits: 1},
				{header: map[string]string{"X-F0": "a", "X-F31": "c"}, cache: "fwd=vary-miss; fwd-status=200; stored", hits: 2},
			},
		},
		{
			name:   "past the bound",
			origin: fixed(200, "v", "Cache-Control", "max-age=60", "Vary", manyVary(maxVaryFields+1)),
			steps: []step{
				{header: hdr, cache: "fwd=uri-miss; fwd-status=200", body: "v", hits: 1},
				{header: hdr, cache: "fwd=uri-miss; fwd-status=200", body: "v", hits: 2},
			},
		},
		{
			name:   "64k names",
			origin: fixed(200, "v", "Cache-Control", "max-age=60", "Vary", manyVary(64<<10)),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200", body: "v", hits: 1},
			},
		},
	})
}

// manyVary is a Vary value naming n distinct fields.
func manyVary(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("X-F%d", i)
	}
	return strings.Join(names, ", ")
}

// BenchmarkVaryMany sends responses naming 64k Vary fields through the
// Transport (#20 item 9): the cache's work on such a response must stay
// small, not grow with the square of the list.
func BenchmarkVaryMany(b *testing.B) {
	vary := manyVary(64 << 10)
	origin := func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		w.Header().Set("Date", date(now))
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", vary)
		fmt.Fprint(w, "v")
	}
	w := newWorld(b, Config{MemoryBytes: 8 << 20}, origin)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := w.do("GET", fmt.Sprintf("/v%d", i), nil); r.err != nil || r.body != "v" {
			b.Fatalf("%q, %v", r.body, r.err)
		}
	}
}

// TestNewestByDate is §4: when several stored responses suit a request,
// the most recent by Date is used, not the one received last.
func TestNewestByDate(t *testing.T) {
	origin := func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		w.Header().Set("Cache-Control", "max-age=7200")
		if r.Header.Get("X-A") != "" {
			w.Header().Set("Date", date(now))
			w.Header().Set("Vary", "X-A")
			fmt.Fprint(w, "vary")
			return
		}
		w.Header().Set("Date", date(now.Add(-time.Hour))) // from a slow cache upstream, say
		fmt.Fprint(w, "plain")
	}
	a := map[string]string{"X-A": "1"}
	runCases(t, []conformanceCase{{name: "newest by Date", origin: origin, steps: []step{
		{header: a, cache: "fwd=uri-miss; fwd-status=200; stored", body: "vary", hits: 1},
		{advance: time.Second, cache: "fwd=vary-miss; fwd-status=200; stored", body: "plain", hits: 2},
		{header: a, cache: "hit; ttl=7199", body: "vary", hits: 2},
		{cache: "hit; ttl=3600", body: "plain", hits: 2},
	}}})
}
