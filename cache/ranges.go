package cache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRanges bounds the ranges of one Range field ferry reads: more is a
// broken client or an attack (RFC 9110 §14.2), and is sent on to the
// origin unread.
const maxRanges = 16

// rangeSpec is one range-spec of a Range field (RFC 9110 §14.1.1):
// first-last, first- (last -1), or the suffix -n (first -1, last n).
type rangeSpec struct{ first, last int64 }

// parseRange reads a Range field value: "bytes=" and 1 to maxRanges
// range-specs. ok is false for another unit, bad syntax or too many
// ranges: a Range ferry does not answer from its store. The unit is
// case-insensitive (§14.1).
func parseRange(v string) (specs []rangeSpec, ok bool) {
	unit, set, found := strings.Cut(v, "=")
	if !found || !strings.EqualFold(unit, "bytes") {
		return nil, false
	}
	for s := range strings.SplitSeq(set, ",") {
		s = strings.Trim(s, " \t")
		if s == "" {
			continue // empty list elements (RFC 9110 §5.6.1)
		}
		a, b, found := strings.Cut(s, "-")
		if !found || len(specs) == maxRanges {
			return nil, false
		}
		var r rangeSpec
		var okA, okB bool
		switch {
		case a == "":
			r.first = -1
			r.last, okB = offset(b)
			okA = true
		case b == "":
			r.first, okA = offset(a)
			r.last, okB = -1, true
		default:
			r.first, okA = offset(a)
			r.last, okB = offset(b)
			okB = okB && r.last >= r.first
		}
		if !okA || !okB {
			return nil, false
		}
		specs = append(specs, r)
	}
	return specs, len(specs) > 0
}

// offset reads a byte position: digits only, and no more than int64.
func offset(s string) (int64, bool) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// resolve is r against a representation of size bytes: the offset and
// length it selects, or ok false when it selects nothing (unsatisfiable,
// §14.1.1).
func (r rangeSpec) resolve(size int64) (off, n int64, ok bool) {
	switch {
	case r.first < 0:
		if r.last == 0 || size == 0 {
			return 0, 0, false
		}
		n = min(r.last, size)
		return size - n, n, true
	case r.first >= size:
		return 0, 0, false
	}
	last := size - 1
	if r.last >= 0 && r.last < last {
		last = r.last
	}
	return r.first, last - r.first + 1, true
}

// contentRange is a 206's Content-Range (RFC 9110 §14.4) as ferry stores
// it: "bytes first-last/total" with all three known.
type contentRange struct{ first, last, total int64 }

// parseContentRange reads the Content-Range of a single-part 206. ok is
// false for anything else: another unit, "*" for the length, bad
// numbers, last before first or past the length, several lines.
func parseContentRange(lines []string) (cr contentRange, ok bool) {
	if len(lines) != 1 {
		return cr, false
	}
	unit, rest, found := strings.Cut(strings.Trim(lines[0], " \t"), " ")
	if !found || !strings.EqualFold(unit, "bytes") {
		return cr, false
	}
	span, total, found := strings.Cut(rest, "/")
	a, b, found2 := strings.Cut(span, "-")
	if !found || !found2 {
		return cr, false
	}
	var okA, okB, okT bool
	cr.first, okA = offset(a)
	cr.last, okB = offset(b)
	cr.total, okT = offset(total)
	return cr, okA && okB && okT && cr.first <= cr.last && cr.last < cr.total
}

func (cr contentRange) String() string {
	return "bytes " + strconv.FormatInt(cr.first, 10) + "-" + strconv.FormatInt(cr.last, 10) + "/" + strconv.FormatInt(cr.total, 10)
}

func (cr contentRange) size() int64 { return cr.last - cr.first + 1 }

// ifRange is RFC 9110 §13.1.5 for a stored response with header h and
// Date date: true when req has no If-Range, or its validator still names
// the stored representation. An entity-tag must match strongly (weak tags
// never do); a date must equal Last-Modified, and only a strong
// Last-Modified (a second or more before Date) counts.
func ifRange(req *http.Request, h http.Header, date time.Time) bool {
	vs := req.Header.Values("If-Range")
	switch {
	case len(vs) == 0:
		return true
	case len(vs) > 1:
		return false
	}
	v := strings.Trim(vs[0], " \t")
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "W/") {
		etag := h.Get("ETag")
		return strings.HasPrefix(v, `"`) && strings.HasPrefix(etag, `"`) && v == etag
	}
	t, ok := parseHTTPDate(v, date)
	lm, okLM := parseHTTPDate(h.Get("Last-Modified"), date)
	return ok && okLM && t.Equal(lm) && !date.Before(lm.Add(time.Second))
}
