package cache

import (
	"strings"
	"testing"
)

// none is Directives with nothing set.
var none = noDirectives()

func with(f func(d *Directives)) Directives {
	d := none
	f(&d)
	return d
}

var ccTests = []struct {
	name string
	in   []string
	want Directives
}{
	{"empty", nil, none},
	{"flags", []string{"no-store, no-cache, private, public"}, with(func(d *Directives) {
		d.NoStore, d.NoCache, d.Private, d.Public = true, true, true, true
	})},
	{"case and spaces", []string{"  Max-Age = 60 ,MUST-REVALIDATE"}, with(func(d *Directives) { d.MaxAge, d.MustRevalidate = 60, true })},
	{"quoted delta is accepted", []string{`max-age="30"`}, with(func(d *Directives) { d.MaxAge = 30 })},
	{"first occurrence wins", []string{"max-age=10", "max-age=20"}, with(func(d *Directives) { d.MaxAge = 10 })},
	{"malformed max-age is stale", []string{"max-age=abc"}, with(func(d *Directives) { d.MaxAge = 0 })},
	{"max-age without value is stale", []string{"max-age"}, with(func(d *Directives) { d.MaxAge = 0 })},
	{"overflow saturates at 2^31", []string{"s-maxage=99999999999999999999999"}, with(func(d *Directives) { d.SMaxAge = 1 << 31 })},
	{"qualified no-cache and private count as unqualified", []string{`no-cache="Set-Cookie, X-A", private="X-B"`},
		with(func(d *Directives) { d.NoCache, d.Private = true, true })},
	{"quoted comma does not split", []string{`no-cache="a,max-age=5", proxy-revalidate`},
		with(func(d *Directives) { d.NoCache, d.ProxyRevalidate = true, true })},
	{"escaped quote inside", []string{`x="a\",b", max-age=7`}, with(func(d *Directives) { d.MaxAge = 7 })},
	{"request directives", []string{"max-stale=5, min-fresh=10, only-if-cached, no-transform"}, with(func(d *Directives) {
		d.MaxStale, d.MinFresh, d.OnlyIfCached, d.NoTransform = 5, 10, true, true
	})},
	{"bare max-stale", []string{"max-stale"}, with(func(d *Directives) { d.MaxStaleAny = true })},
	{"malformed max-stale grants nothing", []string{"max-stale=-1"}, none},
	{"malformed min-fresh ignored", []string{"min-fresh=x"}, none},
	{"unknown directives ignored", []string{"foo, bar=baz, must-understand"}, with(func(d *Directives) { d.MustUnderstand = true })},
	{"empty members", []string{",,, ,max-age=1,,"}, with(func(d *Directives) { d.MaxAge = 1 })},
	{"too many directives", []string{strings.Repeat("a,", maxCCDirectives) + "max-age=5"},
		with(func(d *Directives) { d.Overflow, d.NoStore, d.NoCache = true, true, true })},
	{"too long", []string{"max-age=5, x=\"" + strings.Repeat("y", maxCCBytes) + "\""},
		with(func(d *Directives) { d.Overflow, d.NoStore, d.NoCache = true, true, true })},
	{"unterminated quote", []string{`x="abc, max-age=5`}, none},
	{"RFC 5861 directives", []string{"max-age=1, stale-while-revalidate=30, stale-if-error=600"}, with(func(d *Directives) {
		d.MaxAge, d.StaleWhileRevalidate, d.StaleIfError = 1, 30, 600
	})},
	{"RFC 5861: first occurrence wins", []string{"stale-if-error=5, stale-if-error=9", "stale-while-revalidate=0"}, with(func(d *Directives) {
		d.StaleIfError, d.StaleWhileRevalidate = 5, 0
	})},
	{"RFC 5861: malformed or bare grants nothing", []string{"stale-if-error=-5, stale-while-revalidate"}, none},
}

func TestParseCacheControl(t *testing.T) {
	for _, tt := range ccTests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseCacheControl(tt.in); got != tt.want {
				t.Errorf("parseCacheControl(%q)\n got %#v\nwant %#v", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzParseCacheControl: any input parses without panic within the bounds,
// and what it yields formats to a header that parses back the same.
func FuzzParseCacheControl(f *testing.F) {
	for _, tt := range ccTests {
		f.Add(strings.Join(tt.in, "\n"))
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := parseCacheControl(strings.Split(s, "\n"))
		for _, n := range []int64{d.MaxAge, d.SMaxAge, d.MaxStale, d.MinFresh} {
			if n < -1 || n > maxDelta {
				t.Fatalf("%q: value %d out of range", s, n)
			}
		}
		if d.Overflow && !(d.NoStore && d.NoCache) {
			t.Fatalf("%q: overflow without no-store", s)
		}
		// An overflow formats as the no-store, no-cache it stands for.
		want := d
		want.Overflow = false
		if again := parseCacheControl([]string{d.String()}); again != want {
			t.Fatalf("%q: round trip\n got %#v\nwant %#v (via %q)", s, again, want, d.String())
		}
	})
}
