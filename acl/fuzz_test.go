package acl

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseList: any input parses without panic, and every line counted
// as an entry can be found again.
func FuzzParseList(f *testing.F) {
	f.Add([]byte(sampleList))
	f.Add([]byte("||a.example^$important,all\n0.0.0.0\tb.example c.example\n"))
	f.Add([]byte(strings.Repeat("a", 5000)))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, st, err := ParseList(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if st.Entries < s.Len() || st.Skipped < 0 {
			t.Fatalf("stats %+v for %d names", st, s.Len())
		}
		// Round trip: each line's names, parsed alone, are in the whole set.
		for _, line := range bytes.Split(data, []byte("\n")) {
			one := NewDomainSet(0)
			parseListLine(one, line)
			one.each(func(name string, kind uint8) {
				if kind&matchExact != 0 && !s.Contains(name) {
					t.Fatalf("line %q: %q not in the set", line, name)
				}
				if kind&matchSubs != 0 && !s.Contains("sub."+name) {
					t.Fatalf("line %q: names below %q not in the set", line, name)
				}
			})
		}
	})
}

// FuzzCompile: rule values of any shape compile or fail with field errors,
// never panic, and a compiled policy decides without panic.
func FuzzCompile(f *testing.F) {
	f.Add("example.com", "10.0.0.0/8", "443", "connect", "09:00-17:00", "mon-fri", "^a.*")
	f.Add(".example.com", "::ffff:10.0.0.0/104", "80-90", "socks", "22:00-06:00", "sat", "((")
	f.Add("*.bücher.example", "fe80::/10", "0", "ftp", "24:00-01:00", "fri-mon", "")
	f.Fuzz(func(t *testing.T, domain, ipv, port, proto, tm, wd, re string) {
		m := Match{Domain: Values{domain}, IP: Values{ipv}, Port: Values{port}, Proto: Values{proto},
			Time: Values{tm}, Weekday: Values{wd}, DomainRegex: Values{re}, Client: Values{ipv}}
		p, err := Compile(Config{Rules: []RuleConfig{{Name: "r", Action: "deny", Match: m, Not: &m}}}, Env{})
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		q := Query{Host: "www.example.com", Port: 443, Proto: "connect"}
		p.Decide(&q)
		p.Explain(&q)
	})
}

// FuzzNormalizeName: the one form of a host name is ASCII, lower case,
// without a trailing dot, and normalising it again changes nothing; a
// name without one is refused, never half-mapped.
func FuzzNormalizeName(f *testing.F) {
	for _, s := range []string{"example.com", "EXAMPLE.com.", "\u212aey.example", "ｅｘａｍｐｌｅ.com", "example。com",
		"bücher.example", "xn--bcher-kva.example", "a..b", "", "\xff.example", "a_b.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n, err := NormalizeName(name)
		if err != nil {
			return
		}
		for i := 0; i < len(n); i++ {
			if c := n[i]; c >= 0x80 || c >= 'A' && c <= 'Z' {
				t.Fatalf("%q normalised to %q: not lower-case ASCII", name, n)
			}
		}
		if strings.HasSuffix(n, ".") || n == "" {
			t.Fatalf("%q normalised to %q", name, n)
		}
		if again, err := NormalizeName(n); err != nil || again != n {
			t.Fatalf("%q normalised to %q, then to %q, %v", name, n, again, err)
		}
	})
}
