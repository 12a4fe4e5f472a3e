package connect_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// The checker itself tells a List from what is not one (RFC 8941 §4.2).
func TestParseSFList(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{`ferry; error=dns_error; details="no \"such\" host"`, true},
		{`parent; error=connection_refused, ferry; error=http_protocol_error; next-hop="corp"; received-status=502`, true},
		{`a;b;c=?0;d=1.5;e=:AAE=:, (x "y");z`, true},
		{``, true},
		{`ferry; details="RFC 9112 Â§6.1"`, false},
		{`ferry; details="a\qb"`, false},
		{`ferry; details="open`, false},
		{`ferry,`, false},
		{`ferry; Error=x`, false},
		{`ferry; error=`, false},
		{`ferry x`, false},
		{`1.2345`, false},
	}
	for _, tt := range tests {
		if _, err := parseSFList(tt.in); (err == nil) != tt.ok {
			t.Errorf("parseSFList(%q): %v, want ok %v", tt.in, err, tt.ok)
		}
	}
}

// sfMember is one member of a Structured Fields list (RFC 8941 §3.1): its
// bare item as written (a string unescaped) and its parameters.
type sfMember struct {
	item   string
	params map[string]string
}

// parseSFList parses a field value as an RFC 8941 List strictly, as §4.2
// says a recipient must: any fault fails the whole field. Inner lists are
// accepted and returned as their text.
func parseSFList(s string) ([]sfMember, error) {
	p := &sfv{s: s}
	var list []sfMember
	p.sp(false)
	for p.i < len(p.s) {
		m, err := p.member()
		if err != nil {
			return nil, err
		}
		list = append(list, m)
		p.sp(true)
		if p.i == len(p.s) {
			return list, nil
		}
		if p.s[p.i] != ',' {
			return nil, p.fail("want ',' between members")
		}
		p.i++
		p.sp(true)
		if p.i == len(p.s) {
			return nil, p.fail("trailing comma")
		}
	}
	return list, nil
}

type sfv struct {
	s string
	i int
}

func (p *sfv) fail(why string) error { return fmt.Errorf("at byte %d of %q: %s", p.i, p.s, why) }

// sp skips SP, or OWS (SP and HTAB) when ows.
func (p *sfv) sp(ows bool) {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || ows && p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *sfv) member() (sfMember, error) {
	var m sfMember
	var err error
	if p.i < len(p.s) && p.s[p.i] == '(' {
		start := p.i
		p.i++
		for {
			p.sp(false)
			if p.i < len(p.s) && p.s[p.i] == ')' {
				p.i++
				break
			}
			if _, err := p.bareItem(); err != nil {
				return m, err
			}
			if _, err := p.params(); err != nil {
				return m, err
			}
			if p.i >= len(p.s) || p.s[p.i] != ' ' && p.s[p.i] != ')' {
				return m, p.fail("unterminated inner list")
			}
		}
		m.item = p.s[start:p.i]
	} else if m.item, err = p.bareItem(); err != nil {
		return m, err
	}
	m.params, err = p.params()
	return m, err
}

func (p *sfv) params() (map[string]string, error) {
	params := map[string]string{}
	for p.i < len(p.s) && p.s[p.i] == ';' {
		p.i++
		p.sp(false)
		start := p.i
		for p.i < len(p.s) && (isLower(p.s[p.i]) || p.s[p.i] == '*' ||
			p.i > start && (isDigit(p.s[p.i]) || strings.IndexByte("_-.", p.s[p.i]) >= 0)) {
			p.i++
		}
		if p.i == start {
			return nil, p.fail("want a parameter key")
		}
		key, val := p.s[start:p.i], "?1"
		if p.i < len(p.s) && p.s[p.i] == '=' {
			p.i++
			v, err := p.bareItem()
			if err != nil {
				return nil, err
			}
			val = v
		}
		params[key] = val
	}
	return params, nil
}

// bareItem reads an integer, decimal, string, token, byte sequence or
// boolean (RFC 8941 §4.2.3.1).
func (p *sfv) bareItem() (string, error) {
	if p.i >= len(p.s) {
		return "", p.fail("want an item")
	}
	start := p.i
	switch c := p.s[p.i]; {
	case c == '-' || isDigit(c):
		p.i++
		for p.i < len(p.s) && (isDigit(p.s[p.i]) || p.s[p.i] == '.') {
			p.i++
		}
		n := strings.TrimPrefix(p.s[start:p.i], "-")
		whole, frac, dec := strings.Cut(n, ".")
		if whole == "" || strings.Contains(frac, ".") || dec && (frac == "" || len(frac) > 3 || len(whole) > 12) || len(whole) > 15 {
			return "", p.fail("bad number")
		}
	case c == '"':
		var b strings.Builder
		for p.i++; ; p.i++ {
			if p.i >= len(p.s) {
				return "", p.fail("unterminated string")
			}
			c := p.s[p.i]
			switch {
			case c == '\\':
				p.i++
				if p.i >= len(p.s) || p.s[p.i] != '"' && p.s[p.i] != '\\' {
					return "", p.fail("bad escape in a string")
				}
				b.WriteByte(p.s[p.i])
			case c == '"':
				p.i++
				return b.String(), nil
			case c < 0x20 || c > 0x7e:
				return "", p.fail("a byte outside printable ASCII in a string")
			default:
				b.WriteByte(c)
			}
		}
	case c == '*' || isLower(c) || c >= 'A' && c <= 'Z':
		for p.i++; p.i < len(p.s) && (isTchar(p.s[p.i]) || p.s[p.i] == ':' || p.s[p.i] == '/'); p.i++ {
		}
	case c == ':':
		end := strings.IndexByte(p.s[p.i+1:], ':')
		if end < 0 {
			return "", p.fail("unterminated byte sequence")
		}
		p.i += end + 2
	case c == '?':
		if p.i+1 >= len(p.s) || p.s[p.i+1] != '0' && p.s[p.i+1] != '1' {
			return "", p.fail("bad boolean")
		}
		p.i += 2
	default:
		return "", p.fail("want an item")
	}
	return p.s[start:p.i], nil
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isTchar(c byte) bool {
	return isLower(c) || isDigit(c) || c >= 'A' && c <= 'Z' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

var errNoFerryMember = errors.New("no member of ferry's")
