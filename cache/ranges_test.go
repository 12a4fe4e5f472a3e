package cache

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

var rangeTests = []struct {
	in   string
	want []rangeSpec // nil: not read
}{
	{"bytes=0-1", []rangeSpec{{0, 1}}},
	{"BYTES=5-", []rangeSpec{{5, -1}}},
	{"bytes=-5", []rangeSpec{{-1, 5}}},
	{"bytes=0-0, -1", []rangeSpec{{0, 0}, {-1, 1}}},
	{"bytes= 1-2 ,, 4-5 ", []rangeSpec{{1, 2}, {4, 5}}},
	{"bytes=0-9223372036854775807", []rangeSpec{{0, 9223372036854775807}}},
	{"bytes=5-1", nil},
	{"bytes=1", nil},
	{"bytes=-", nil},
	{"bytes=a-b", nil},
	{"bytes=+1-2", nil},
	{"bytes=1--2", nil},
	{"bytes=0-99999999999999999999", nil},
	{"bytes=", nil},
	{"bytes = 0-1", nil},
	{"items=0-1", nil},
	{"0-1", nil},
	{"bytes=" + strings.Repeat("0-0,", maxRanges+1), nil},
}

func TestParseRange(t *testing.T) {
	for _, tt := range rangeTests {
		got, ok := parseRange(tt.in)
		if ok != (tt.want != nil) || len(got) != len(tt.want) {
			t.Errorf("parseRange(%q) = %v, %v; want %v", tt.in, got, ok, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("parseRange(%q) = %v, want %v", tt.in, got, tt.want)
			}
		}
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		r           rangeSpec
		size        int64
		off, n      int64
		satisfiable bool
	}{
		{rangeSpec{0, 1}, 11, 0, 2, true},
		{rangeSpec{5, 100}, 11, 5, 6, true},
		{rangeSpec{10, -1}, 11, 10, 1, true},
		{rangeSpec{11, -1}, 11, 0, 0, false},
		{rangeSpec{-1, 3}, 11, 8, 3, true},
		{rangeSpec{-1, 30}, 11, 0, 11, true},
		{rangeSpec{-1, 0}, 11, 0, 0, false},
		{rangeSpec{0, -1}, 0, 0, 0, false},
		{rangeSpec{-1, 1}, 0, 0, 0, false},
	}
	for _, tt := range tests {
		off, n, ok := tt.r.resolve(tt.size)
		if off != tt.off || n != tt.n || ok != tt.satisfiable {
			t.Errorf("%v.resolve(%d) = %d, %d, %v; want %d, %d, %v", tt.r, tt.size, off, n, ok, tt.off, tt.n, tt.satisfiable)
		}
	}
}

// FuzzParseRange: no panic, at most maxRanges ranges, and every range
// resolves inside the representation.
func FuzzParseRange(f *testing.F) {
	for _, tt := range rangeTests {
		f.Add(tt.in, int64(11))
	}
	f.Fuzz(func(t *testing.T, v string, size int64) {
		specs, ok := parseRange(v)
		if !ok {
			return
		}
		if len(specs) == 0 || len(specs) > maxRanges {
			t.Fatalf("%q: %d ranges", v, len(specs))
		}
		size = max(0, size)
		for _, r := range specs {
			if off, n, ok := r.resolve(size); ok && (off < 0 || n <= 0 || off+n > size) {
				t.Fatalf("%q: %v resolves to %d+%d in %d", v, r, off, n, size)
			}
		}
	})
}

var contentRangeTests = []struct {
	in   []string
	want contentRange
	ok   bool
}{
	{[]string{"bytes 0-4/10"}, contentRange{0, 4, 10}, true},
	{[]string{"BYTES 9-9/10"}, contentRange{9, 9, 10}, true},
	{[]string{"bytes 0-9/10"}, contentRange{0, 9, 10}, true},
	{[]string{"bytes 0-10/10"}, contentRange{}, false},
	{[]string{"bytes 5-4/10"}, contentRange{}, false},
	{[]string{"bytes 0-4/*"}, contentRange{}, false},
	{[]string{"bytes */10"}, contentRange{}, false},
	{[]string{"items 0-4/10"}, contentRange{}, false},
	{[]string{"bytes 0-4/10", "bytes 0-4/10"}, contentRange{}, false},
	{[]string{"bytes -1-4/10"}, contentRange{}, false},
	{nil, contentRange{}, false},
}

func TestParseContentRange(t *testing.T) {
	for _, tt := range contentRangeTests {
		got, ok := parseContentRange(tt.in)
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("parseContentRange(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzParseContentRange: no panic, and what is read writes back to text
// that reads the same.
func FuzzParseContentRange(f *testing.F) {
	for _, tt := range contentRangeTests {
		f.Add(strings.Join(tt.in, "\n"))
	}
	f.Fuzz(func(t *testing.T, v string) {
		cr, ok := parseContentRange(strings.Split(v, "\n"))
		if !ok {
			return
		}
		if cr.first < 0 || cr.first > cr.last || cr.last >= cr.total || cr.size() <= 0 {
			t.Fatalf("%q: %+v", v, cr)
		}
		if back, ok := parseContentRange([]string{cr.String()}); !ok || back != cr {
			t.Fatalf("%q: %+v reads back as %+v, %v", v, cr, back, ok)
		}
	})
}

func TestIfRange(t *testing.T) {
	date := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	lm := date.Add(-time.Hour)
	h := http.Header{"Etag": {`"a"`}, "Last-Modified": {lmString(lm)}}
	weak := http.Header{"Etag": {`W/"a"`}, "Last-Modified": {lmString(date)}}
	tests := []struct {
		name    string
		ifRange []string
		stored  http.Header
		want    bool
	}{
		{"absent", nil, h, true},
		{"same strong ETag", []string{`"a"`}, h, true},
		{"other ETag", []string{`"b"`}, h, false},
		{"weak ETag never matches", []string{`W/"a"`}, h, false},
		{"stored weak ETag never matches", []string{`W/"a"`}, weak, false},
		{"same Last-Modified", []string{lmString(lm)}, h, true},
		{"other date", []string{lmString(lm.Add(time.Second))}, h, false},
		{"weak Last-Modified (equal to Date)", []string{lmString(date)}, weak, false},
		{"invalid", []string{"yesterday"}, h, false},
		{"two lines", []string{`"a"`, `"a"`}, h, false},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", "http://h/", nil)
		req.Header["If-Range"] = tt.ifRange
		if got := ifRange(req, tt.stored, date); got != tt.want {
			t.Errorf("%s: ifRange = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func lmString(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
