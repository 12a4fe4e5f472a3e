package acl

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// tri is a matcher's answer: a rule needs every matcher to say yes, and a
// matcher on the address says unknown while the address is not known.
type tri uint8

const (
	no tri = iota
	yes
	unknown
)

func (t tri) String() string { return [...]string{"no", "yes", "needs the address"}[t] }

func bool3(b bool) tri {
	if b {
		return yes
	}
	return no
}

// matcher is one condition of a rule. match must not allocate: it runs for
// every rule walked on every request.
type matcher interface {
	match(q *Query) tri
	String() string // for ferry explain: what it checks, as configured
}

// domainMatcher checks Query.Host against rule patterns or block lists.
// A rule's few patterns are compared one by one (a few nanoseconds each);
// many patterns and lists go to DomainSets (a hash probe per label).
type domainMatcher struct {
	few  []pattern
	sets []*DomainSet
	desc string
}

// pattern is one normalized domain pattern.
type pattern struct {
	name string
	kind uint8
}

func (p pattern) covers(host string) bool {
	if host == p.name {
		return p.kind&matchExact != 0
	}
	n := len(host) - len(p.name)
	return p.kind&matchSubs != 0 && n > 1 && host[n-1] == '.' && host[n:] == p.name
}

func (m *domainMatcher) match(q *Query) tri {
	if q.Host == "" {
		return no
	}
	for _, p := range m.few {
		if p.covers(q.Host) {
			return yes
		}
	}
	for _, s := range m.sets {
		if s.Contains(q.Host) {
			return yes
		}
	}
	return no
}
func (m *domainMatcher) String() string { return m.desc }

// regexMatcher checks Query.Host against regular expressions compiled
// once, when the policy is built.
type regexMatcher struct {
	res []*regexp.Regexp
}

func (m *regexMatcher) match(q *Query) tri {
	if q.Host == "" {
		return no
	}
	for _, re := range m.res {
		if re.MatchString(q.Host) {
			return yes
		}
	}
	return no
}

func (m *regexMatcher) String() string {
	s := make([]string, len(m.res))
	for i, re := range m.res {
		s[i] = re.String()
	}
	return "domain_regex " + strings.Join(s, ", ")
}

// prefixes is a list of networks split by family. An IPv4 address is
// checked against the IPv4 list only: IPv6 networks that cover the
// IPv4-mapped range (::ffff:0:0/96) were turned into IPv4 ones when the
// list was built, so ::ffff:10.0.0.1 and 10.0.0.1 are the same address
// to every rule (RFC 4291 §2.5.5.2).
type prefixes struct {
	v4, v6 []netip.Prefix
	desc   string
}

var mappedRange = netip.MustParsePrefix("::ffff:0:0/96")

func parsePrefixes(vals []string) (prefixes, error) {
	var p prefixes
	for _, v := range vals {
		pfx, err := parsePrefix(v)
		if err != nil {
			return p, err
		}
		switch {
		case pfx.Addr().Is4():
			p.v4 = append(p.v4, pfx)
		case pfx.Bits() <= 96 && pfx.Contains(mappedRange.Addr()):
			p.v6 = append(p.v6, pfx)
			p.v4 = append(p.v4, netip.PrefixFrom(netip.IPv4Unspecified(), 0))
		case pfx.Bits() >= 96 && mappedRange.Contains(pfx.Addr()):
			p.v4 = append(p.v4, netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96))
		default:
			p.v6 = append(p.v6, pfx)
		}
	}
	p.desc = strings.Join(vals, ", ")
	return p, nil
}

// parsePrefix reads "10.0.0.0/8", "fe80::/10" or a bare address. A prefix
// with host bits set is refused: "10.1.2.3/8" is more likely a typo than
// a way to write 10.0.0.0/8.
func parsePrefix(v string) (netip.Prefix, error) {
	if !strings.Contains(v, "/") {
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not an address or a network (CIDR)", v)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return p, fmt.Errorf("%q is not a network (CIDR): %v", v, err)
	}
	if p.Masked() != p {
		return p, fmt.Errorf("%q has bits set past /%d; did you mean %s?", v, p.Bits(), p.Masked())
	}
	return p, nil
}

// contains reports whether a is in one of p's prefixes. A link-local
// address's zone (fe80::1%eth0, a client's or a dial's) is not part of
// the address a rule names: netip's Contains is false for every zoned
// address, which would let fe80::/10 rules pass link-local peers by.
func (p *prefixes) contains(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	list := p.v6
	if a.Is4() {
		list = p.v4
	}
	for _, n := range list {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// ipMatcher checks the destination address; unknown until it is known.
// self, when the rule names it, is the host's addresses as they are now.
type ipMatcher struct {
	prefixes
	self *AddrSet
}

func newIPMatcher(vals Values, self *AddrSet) (*ipMatcher, error) {
	m := &ipMatcher{}
	nets := make([]string, 0, len(vals))
	for _, v := range vals {
		if v != Self {
			nets = append(nets, v)
		} else if m.self = self; self == nil {
			return nil, fmt.Errorf("%q names this host's addresses, which are not known here", v)
		}
	}
	var err error
	if m.prefixes, err = parsePrefixes(nets); err != nil {
		return nil, err
	}
	m.desc = strings.Join(vals, ", ")
	return m, nil
}

func (m *ipMatcher) match(q *Query) tri {
	if !q.IP.IsValid() {
		return unknown
	}
	return bool3(m.contains(q.IP) || m.self != nil && m.self.Contains(q.IP))
}

func (m *ipMatcher) String() string {
	if m.self != nil {
		return "ip " + m.desc + " (self: " + m.self.String() + ")"
	}
	return "ip " + m.desc
}

// clientMatcher checks the client's source address.
type clientMatcher struct{ prefixes }

func (m *clientMatcher) match(q *Query) tri {
	return bool3(q.Client.IsValid() && m.contains(q.Client))
}
func (m *clientMatcher) String() string { return "client " + m.desc }

// portMatcher checks the destination port against ports and ranges.
type portMatcher struct {
	ranges [][2]uint16
	desc   string
}

func parsePorts(vals []string) (*portMatcher, error) {
	m := &portMatcher{desc: strings.Join(vals, ", ")}
	for _, v := range vals {
		lo, hi, isRange := strings.Cut(v, "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
		if err1 != nil || err2 != nil || a == 0 || a > b {
			return nil, fmt.Errorf("%q is not a port (1-65535) or a range such as 8000-8100", v)
		}
		m.ranges = append(m.ranges, [2]uint16{uint16(a), uint16(b)})
	}
	return m, nil
}

func (m *portMatcher) match(q *Query) tri {
	for _, r := range m.ranges {
		if q.Port >= r[0] && q.Port <= r[1] {
			return yes
		}
	}
	return no
}
func (m *portMatcher) String() string { return "port " + m.desc }

// nameMatcher checks a string field (user, protocol, method) against a
// small set; a group is compiled into the set of its members.
type nameMatcher struct {
	field field
	names map[string]struct{}
	desc  string
}

// field is the Query field a nameMatcher reads.
type field uint8

const (
	fieldUser field = iota
	fieldProto
	fieldMethod
)

func (m *nameMatcher) match(q *Query) tri {
	var v string
	switch m.field {
	case fieldUser:
		v = q.User
	case fieldProto:
		v = q.Proto
	case fieldMethod:
		v = q.Method
	}
	if v == "" {
		return no
	}
	_, ok := m.names[v]
	return bool3(ok)
}
func (m *nameMatcher) String() string { return m.desc }

func newNameMatcher(desc string, f field, names []string) *nameMatcher {
	m := &nameMatcher{field: f, names: make(map[string]struct{}, len(names)), desc: desc}
	for _, n := range names {
		m.names[n] = struct{}{}
	}
	return m
}
