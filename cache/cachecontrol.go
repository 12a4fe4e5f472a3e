package cache

import (
	"strconv"
	"strings"
)

// Bounds of the Cache-Control parser. A header past them is not guessed at:
// the directives are marked Overflow and both sides treat that as no-store
// and no-cache, so a no-store hidden after junk is never missed.
const (
	maxCCBytes      = 4096
	maxCCDirectives = 32
)

// maxDelta is what an overflowing delta-seconds becomes (RFC 9111 §1.2.2).
const maxDelta = 1 << 31

// Directives are the Cache-Control directives ferry acts on, from a request
// (RFC 9111 §5.2.1) or a response (§5.2.2). Second counts are -1 when the
// directive is absent.
type Directives struct {
	NoStore         bool
	NoCache         bool // also set by the qualified form no-cache="field" (§5.2.2.4 allows that)
	Private         bool // also set by private="field" (§5.2.2.7)
	Public          bool
	MustRevalidate  bool
	ProxyRevalidate bool
	MustUnderstand  bool
	NoTransform     bool
	OnlyIfCached    bool
	MaxAge          int64 // a malformed value counts as 0: "consider ... stale" (§4.2.1)
	SMaxAge         int64 // malformed: 0
	MaxStale        int64 // max-stale=N; see MaxStaleAny for the bare form
	MaxStaleAny     bool  // max-stale with no value: any staleness is acceptable
	MinFresh        int64
	// StaleWhileRevalidate and StaleIfError are RFC 5861's: how long
	// past its freshness a response may be served while it is revalidated
	// in the background, or when the origin fails. -1 when absent or
	// malformed (which grants nothing).
	StaleWhileRevalidate int64
	StaleIfError         int64
	Overflow             bool // the header was longer or had more directives than the parser reads
}

// parseCacheControl reads all Cache-Control field lines of a message. For
// a repeated directive the first occurrence counts (§4.2.1). Unknown
// directives are ignored (§5.2.3).
func parseCacheControl(lines []string) Directives {
	d := noDirectives()
	total, count := 0, 0
	for _, line := range lines {
		total += len(line)
		if total > maxCCBytes {
			d.overflow()
			return d
		}
		for s := line; s != ""; {
			var name, value string
			var hasValue bool
			name, value, hasValue, s = nextDirective(s)
			if name == "" {
				continue
			}
			if count++; count > maxCCDirectives {
				d.overflow()
				return d
			}
			d.set(strings.ToLower(name), value, hasValue)
		}
	}
	return d
}

// noDirectives are the Directives of an absent Cache-Control.
func noDirectives() Directives {
	return Directives{MaxAge: -1, SMaxAge: -1, MaxStale: -1, MinFresh: -1, StaleWhileRevalidate: -1, StaleIfError: -1}
}

func (d *Directives) overflow() {
	*d = noDirectives()
	d.Overflow, d.NoStore, d.NoCache = true, true, true
}

func (d *Directives) set(name, value string, hasValue bool) {
	switch name {
	case "no-store":
		d.NoStore = true
	case "no-cache":
		d.NoCache = true
	case "private":
		d.Private = true
	case "public":
		d.Public = true
	case "must-revalidate":
		d.MustRevalidate = true
	case "proxy-revalidate":
		d.ProxyRevalidate = true
	case "must-understand":
		d.MustUnderstand = true
	case "no-transform":
		d.NoTransform = true
	case "only-if-cached":
		d.OnlyIfCached = true
	case "max-age":
		if d.MaxAge < 0 {
			d.MaxAge = deltaOrZero(value, hasValue)
		}
	case "s-maxage":
		if d.SMaxAge < 0 {
			d.SMaxAge = deltaOrZero(value, hasValue)
		}
	case "min-fresh":
		if d.MinFresh < 0 {
			if n, ok := parseDelta(value); ok && hasValue {
				d.MinFresh = n
			}
		}
	case "stale-while-revalidate":
		d.StaleWhileRevalidate = firstDelta(d.StaleWhileRevalidate, value, hasValue)
	case "stale-if-error":
		d.StaleIfError = firstDelta(d.StaleIfError, value, hasValue)
	case "max-stale":
		if d.MaxStale >= 0 || d.MaxStaleAny {
			return
		}
		if !hasValue {
			d.MaxStaleAny = true
		} else if n, ok := parseDelta(value); ok {
			d.MaxStale = n
		}
		// A malformed max-stale grants nothing: the stricter reading.
	}
}

// firstDelta is a directive's delta-seconds: the first occurrence's, and
// -1 (absent) while none was well-formed.
func firstDelta(cur int64, value string, hasValue bool) int64 {
	if cur >= 0 || !hasValue {
		return cur
	}
	if n, ok := parseDelta(value); ok {
		return n
	}
	return -1
}

// deltaOrZero is a max-age style value: malformed or missing means 0, so
// the response is stale rather than fresh for a guessed time.
func deltaOrZero(value string, hasValue bool) int64 {
	if n, ok := parseDelta(value); ok && hasValue {
		return n
	}
	return 0
}

// parseDelta reads delta-seconds (§1.2.2): digits only, saturating at 2^31.
func parseDelta(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < maxDelta {
			n = n*10 + int64(c-'0')
		}
	}
	return min(n, maxDelta), true
}

// nextDirective splits the first directive off s: name, its value with
// quotes removed (both token and quoted-string forms are accepted, §5.2),
// and the rest after the next top-level comma.
func nextDirective(s string) (name, value string, hasValue bool, rest string) {
	s = strings.TrimLeft(s, " \t")
	i := 0
	for i < len(s) && s[i] != ',' && s[i] != '=' {
		i++
	}
	name = strings.TrimRight(s[:i], " \t")
	if i == len(s) {
		return name, "", false, ""
	}
	if s[i] == ',' {
		return name, "", false, s[i+1:]
	}
	s = strings.TrimLeft(s[i+1:], " \t")
	hasValue = true
	if s != "" && s[0] == '"' {
		var b strings.Builder
		j := 1
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' && j+1 < len(s) {
				j++
			}
			b.WriteByte(s[j])
		}
		value = b.String()
		if j < len(s) {
			j++ // closing quote
		}
		s = s[j:]
		if k := strings.IndexByte(s, ','); k >= 0 {
			return name, value, true, s[k+1:]
		}
		return name, value, true, ""
	}
	if k := strings.IndexByte(s, ','); k >= 0 {
		return name, strings.TrimRight(s[:k], " \t"), true, s[k+1:]
	}
	return name, strings.TrimRight(s, " \t"), true, ""
}

// String formats d as a Cache-Control value that parses back to d.
func (d Directives) String() string {
	if d.Overflow {
		return "no-store, no-cache"
	}
	var parts []string
	flag := func(on bool, name string) {
		if on {
			parts = append(parts, name)
		}
	}
	num := func(n int64, name string) {
		if n >= 0 {
			parts = append(parts, name+"="+strconv.FormatInt(n, 10))
		}
	}
	flag(d.NoStore, "no-store")
	flag(d.NoCache, "no-cache")
	flag(d.Private, "private")
	flag(d.Public, "public")
	flag(d.MustRevalidate, "must-revalidate")
	flag(d.ProxyRevalidate, "proxy-revalidate")
	flag(d.MustUnderstand, "must-understand")
	flag(d.NoTransform, "no-transform")
	flag(d.OnlyIfCached, "only-if-cached")
	num(d.MaxAge, "max-age")
	num(d.SMaxAge, "s-maxage")
	num(d.MaxStale, "max-stale")
	flag(d.MaxStaleAny && d.MaxStale < 0, "max-stale")
	num(d.MinFresh, "min-fresh")
	num(d.StaleWhileRevalidate, "stale-while-revalidate")
	num(d.StaleIfError, "stale-if-error")
	return strings.Join(parts, ", ")
}
