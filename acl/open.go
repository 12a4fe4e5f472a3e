package acl

import (
	"net/netip"
	"strings"
)

// OpenRule names what would let anonymous clients from everywhere through
// (the rules, or "default", joined by ", "), "" when nothing does. The
// open-proxy start check asks it.
//
// It decides by walking the rules, not by reading them: for a sample
// client address from every public range of a family, an anonymous
// forward request (its target, port, method and time unknown) is let
// through when an allow rule may match it before a deny rule surely
// does. If every sample of IPv4, or every one of IPv6, is let through,
// the rules are open, however they are written: client = "0.0.0.0/1"
// beside "128.0.0.0/1", a deny rule whose not.client covers everyone, an
// allow rule that excludes a few clients with not.client (issue 20).
func (p *Policy) OpenRule() string {
	for _, family := range [][]netip.Addr{publicV4Samples, publicV6Samples} {
		var rules []string
		for _, c := range family {
			rule, ok := p.serves(c)
			if !ok {
				rules = nil
				break
			}
			if !contains(rules, rule) {
				rules = append(rules, rule)
			}
		}
		if rules != nil {
			return strings.Join(rules, ", ")
		}
	}
	return ""
}

// serves walks the rules for an anonymous forward request from c whose
// other attributes are unknown: an allow rule that may match lets it
// through; a deny rule that matches every such request turns it away.
func (p *Policy) serves(c netip.Addr) (rule string, ok bool) {
	for i := range p.rules {
		r := &p.rules[i]
		switch r.forClient(c) {
		case yes:
			return r.name, r.allow
		case unknown:
			if r.allow {
				return r.name, true
			}
		}
	}
	return "default", p.allow
}

// forClient tells whether r matches every anonymous forward request from
// c (yes), none (no), or some (unknown).
func (r *rule) forClient(c netip.Addr) tri {
	res := yes
	for _, m := range r.match {
		switch anonymousFrom(m, c) {
		case no:
			return no
		case unknown:
			res = unknown
		}
	}
	for _, m := range r.not {
		switch anonymousFrom(m, c) {
		case yes:
			return no
		case unknown:
			res = unknown
		}
	}
	return res
}

// anonymousFrom is what m says of an anonymous forward request from c:
// unknown when it looks at anything but the client, the user and the
// protocol.
func anonymousFrom(m matcher, c netip.Addr) tri {
	switch m := m.(type) {
	case *clientMatcher:
		return m.match(&Query{Client: c})
	case *nameMatcher:
		switch m.field {
		case fieldUser:
			return no // anonymous: no user or group matcher holds
		case fieldProto:
			n := 0
			for _, p := range forwardProtos {
				if _, ok := m.names[p]; ok {
					n++
				}
			}
			switch n {
			case 0:
				return no // reverse mode's tcp and tls only
			case len(forwardProtos):
				return yes
			}
		}
	}
	return unknown
}

// publicV4Samples is an address in every public /8 of IPv4 (a.1.2.3 is
// public for every first octet but 0, 10, 127 and 224 up: 100.1, 169.1,
// 172.1 and 192.1 are outside 100.64/10, 169.254/16, 172.16/12 and
// 192.168/16). publicV6Samples is one in every /8 of 2000::/3, the global
// unicast space. An open proxy is one the internet can use: clients on
// private ranges alone do not make it one.
var publicV4Samples, publicV6Samples = func() (v4, v6 []netip.Addr) {
	for a := 1; a < 224; a++ {
		if a != 10 && a != 127 {
			v4 = append(v4, netip.AddrFrom4([4]byte{byte(a), 1, 2, 3}))
		}
	}
	for b := 0x20; b < 0x40; b++ {
		v6 = append(v6, netip.AddrFrom16([16]byte{byte(b), 1, 0x0d, 0xb8, 15: 1}))
	}
	return v4, v6
}()
