package acl

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ErrBadName is wrapped by NormalizeName for a name that cannot be a host.
var ErrBadName = errors.New("not a host name")

// NormalizeName returns the one form of a host name: UTS #46 mapping with
// the IDNA2008 lookup profile (so a Kelvin sign is a "k", a fullwidth
// letter its ASCII one, an ideographic full stop a dot), internationalized
// labels in punycode (RFC 5891 A-labels), lower case, one trailing dot
// dropped. Rules, lists and targets written either way compare equal, and
// a front end puts this form in everything downstream (ACL, route, dial,
// Host, SNI, cache key, log), so what a rule approved is what the origin
// is asked for.
// It rejects empty names, names over 253 bytes, empty labels and bytes
// that cannot appear in a host name.
func NormalizeName(name string) (string, error) {
	n := strings.TrimSuffix(name, ".")
	if !isASCII(n) {
		// IDNA would read bytes that are not UTF-8 as U+FFFD and make a
		// name of them (xn--zn7ca): a name no client meant.
		if !utf8.ValidString(n) || strings.ContainsRune(n, utf8.RuneError) {
			return "", fmt.Errorf("%w: %q: not UTF-8", ErrBadName, name)
		}
		a, err := idna.Lookup.ToASCII(n)
		if err != nil {
			return "", fmt.Errorf("%w: %q: %v", ErrBadName, name, err)
		}
		// The mapping may make a trailing dot of a full stop of another
		// script (U+3002): one is dropped after it too.
		n = strings.TrimSuffix(a, ".")
	}
	n = strings.ToLower(n)
	if n == "" || len(n) > 253 {
		return "", fmt.Errorf("%w: %q", ErrBadName, name)
	}
	label := 0
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c == '.':
			if label == 0 {
				return "", fmt.Errorf("%w: %q: empty label", ErrBadName, name)
			}
			label = 0
			continue
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return "", fmt.Errorf("%w: %q", ErrBadName, name)
		}
		label++
		if label > 63 {
			return "", fmt.Errorf("%w: %q: label longer than 63 bytes", ErrBadName, name)
		}
	}
	if label == 0 { // "example.com.." ends in an empty label
		return "", fmt.Errorf("%w: %q: empty label", ErrBadName, name)
	}
	return n, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Domain pattern kinds, as flags so one name can carry several.
const (
	matchExact   uint8 = 1 << iota // the name itself
	matchSubs                      // any name below it, not the name itself
	matchSubtree = matchExact | matchSubs
)

// parseDomainPattern reads one domain pattern as rules and plain lists
// write it: "example.com" (that name), ".example.com" (it and every name
// below, as Squid's dstdomain), "*.example.com" (only names below it).
// plain is the kind a bare name gets.
func parseDomainPattern(p string, plain uint8) (string, uint8, error) {
	kind := plain
	switch {
	case strings.HasPrefix(p, "*."):
		p, kind = p[2:], matchSubs
	case strings.HasPrefix(p, "."):
		p, kind = p[1:], matchSubtree
	}
	if _, err := netip.ParseAddr(p); err == nil {
		return "", 0, fmt.Errorf("%q is an address: match it with ip", p)
	}
	n, err := NormalizeName(p)
	if err != nil {
		return "", 0, err
	}
	return n, kind, nil
}
