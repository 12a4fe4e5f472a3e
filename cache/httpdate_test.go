package cache

import (
	"net/http"
	"testing"
	"time"
)

var httpDateTests = []struct {
	name, in string
	want     string // RFC 3339 in UTC; "" for invalid
}{
	{"IMF-fixdate", "Sun, 06 Nov 1994 08:49:37 GMT", "1994-11-06T08:49:37Z"},
	{"IMF, 32-bit edge", "Tue, 19 Jan 2038 14:14:08 GMT", "2038-01-19T14:14:08Z"},
	{"IMF, far future", "Sun, 21 Nov 2286 04:46:39 GMT", "2286-11-21T04:46:39Z"},
	{"IMF, wrong case weekday", "THU, 18 Aug 2050 02:01:18 GMT", "2050-08-18T02:01:18Z"},
	{"IMF, wrong case month", "Thu, 18 AUG 2050 02:01:18 GMT", "2050-08-18T02:01:18Z"},
	{"IMF, wrong case zone", "Thu, 18 Aug 2050 02:01:18 gMT", "2050-08-18T02:01:18Z"},
	{"IMF, leap second", "Sat, 31 Dec 2016 23:59:60 GMT", "2016-12-31T23:59:59Z"},
	{"rfc850", "Sunday, 06-Nov-94 08:49:37 GMT", "1994-11-06T08:49:37Z"},
	{"rfc850, year within 50 of now", "Thursday, 18-Aug-50 02:01:18 GMT", "2050-08-18T02:01:18Z"},
	{"rfc850, year more than 50 ahead is past", "Thursday, 18-Aug-77 02:01:18 GMT", "1977-08-18T02:01:18Z"},
	{"asctime", "Sun Nov  6 08:49:37 1994", "1994-11-06T08:49:37Z"},
	{"asctime, two-digit day", "Thu Aug 18 02:01:18 2050", "2050-08-18T02:01:18Z"},
	{"zone UTC", "Thu, 18 Aug 2050 02:01:18 UTC", ""},
	{"zone AEST", "Thu, 18 Aug 2050 02:01:18 AEST", ""},
	{"two-digit year in IMF", "Thu, 18 Aug 50 02:01:18 GMT", ""},
	{"missing comma", "Thu 18 Aug 2050 02:01:18 GMT", ""},
	{"multiple spaces", "Thu, 18  Aug  2050 02:01:18 GMT", ""},
	{"date dashes in IMF", "Thu, 18-Aug-2050 02:01:18 GMT", ""},
	{"time periods", "Thu, 18 Aug 2050 02.01.18 GMT", ""},
	{"one-digit hour", "Thu, 18 Aug 2050 2:01:18 GMT", ""},
	{"one-digit hour, padded to length", "Thu, 18 Aug 2050  2:01:18 GMT", ""},
	{"hour 24", "Thu, 18 Aug 2050 24:00:00 GMT", ""},
	{"31 February", "Mon, 31 Feb 2050 02:01:18 GMT", ""},
	{"day 00", "Mon, 00 Feb 2050 02:01:18 GMT", ""},
	{"unknown weekday", "Xyz, 18 Aug 2050 02:01:18 GMT", ""},
	{"unknown month", "Thu, 18 Agu 2050 02:01:18 GMT", ""},
	{"signed number", "Thu, +8 Aug 2050 02:01:18 GMT", ""},
	{"zero", "0", ""},
	{"empty", "", ""},
	{"asctime with zone", "Sun Nov  6 08:49:37 1994 GMT", ""},
	{"rfc850 with short weekday", "Sun, 06-Nov-94 08:49:37 GMT", ""},
}

var dateRef = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func TestParseHTTPDate(t *testing.T) {
	for _, tt := range httpDateTests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseHTTPDate(tt.in, dateRef)
			switch {
			case tt.want == "" && ok:
				t.Errorf("parseHTTPDate(%q) = %v, want invalid", tt.in, got)
			case tt.want != "" && (!ok || got.Format(time.RFC3339) != tt.want):
				t.Errorf("parseHTTPDate(%q) = %v, %v; want %s", tt.in, got, ok, tt.want)
			}
		})
	}
}

// FuzzParseHTTPDate: no panic; what parses is a UTC time that reads back
// the same from its IMF-fixdate form.
func FuzzParseHTTPDate(f *testing.F) {
	for _, tt := range httpDateTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseHTTPDate(s, dateRef)
		if !ok {
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("%q: not UTC: %v", s, got)
		}
		back, ok := parseHTTPDate(got.Format(http.TimeFormat), dateRef)
		if !ok || !back.Equal(got) {
			t.Fatalf("%q = %v, read back as %v, %v", s, got, back, ok)
		}
	})
}

// TestExpiresConformance is §5.3 through the Transport: an Expires in an
// obsolete but valid form gives freshness; an invalid one is "already
// expired", so without a validator the response is not even stored.
func TestExpiresConformance(t *testing.T) {
	fresh := []step{
		{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
		{advance: time.Second, cache: "hit; ttl=*", hits: 1},
	}
	expired := []step{
		{cache: "fwd=uri-miss; fwd-status=200", hits: 1},
		{advance: time.Second, cache: "fwd=uri-miss; fwd-status=200", hits: 2},
	}
	var tests []conformanceCase
	for _, tt := range httpDateTests {
		if tt.name == "zero" || tt.name == "empty" || tt.name == "IMF-fixdate" || tt.name == "rfc850" ||
			tt.name == "asctime" || tt.name == "IMF, leap second" || tt.name == "rfc850, year more than 50 ahead is past" {
			continue // in the past of the test clock
		}
		steps := fresh
		if tt.want == "" {
			steps = expired
		}
		tests = append(tests, conformanceCase{name: tt.name, origin: fixed(200, "e", "Expires", tt.in), steps: steps})
	}
	runCases(t, tests)
}

// TestExpiresIgnored is §5.3: with max-age (or, for a shared cache,
// s-maxage) the Expires field is ignored, even one in the past.
func TestExpiresIgnored(t *testing.T) {
	past := date(newClock().now().Add(-time.Hour))
	runCases(t, []conformanceCase{
		{name: "max-age over a past Expires", origin: fixed(200, "x", "Cache-Control", "max-age=60", "Expires", past), steps: []step{
			{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
			{cache: "hit; ttl=60", hits: 1},
		}},
		{name: "s-maxage over a past Expires", origin: fixed(200, "x", "Cache-Control", "s-maxage=60", "Expires", past), steps: []step{
			{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
			{cache: "hit; ttl=60", hits: 1},
		}},
		{name: "s-maxage over an invalid Expires", origin: fixed(200, "x", "Cache-Control", "s-maxage=60", "Expires", "0"), steps: []step{
			{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
			{cache: "hit; ttl=60", hits: 1},
		}},
	})
}
