package acl

// Policy is a compiled rule list: rules walked in order, the first that
// matches decides, the default decides when none does. It is immutable and
// safe for concurrent use; a reload builds a new one.
type Policy struct {
	rules []rule
	allow bool // the default action
}

type rule struct {
	name  string
	allow bool
	match []matcher // all must hold
	not   []matcher // none may hold
}

// eval tells whether r matches q. Any matcher that says no rules the
// rule out, even when another could not tell without the address: only
// a rule that nothing else rules out needs the address.
func (r *rule) eval(q *Query) tri {
	res := yes
	for _, m := range r.match {
		switch m.match(q) {
		case no:
			return no
		case unknown:
			res = unknown
		}
	}
	for _, m := range r.not {
		switch m.match(q) {
		case yes:
			return no
		case unknown:
			res = unknown
		}
	}
	return res
}

// Decide walks the rules in order. A rule that matches decides. A rule
// that would match but for an address not known yet leaves the decision
// to the address (NeedIP): skipping it could let a later allow rule
// through to an address it denies, so the engine asks again with each
// address it dials. Unless every such rule denies and the walk then ends
// in a deny anyway (a later rule that matches, or the default): whatever
// the address, the answer is deny, given now, before any name is looked
// up (a request that is refused anyway leaks no DNS query).
func (p *Policy) Decide(q *Query) Verdict {
	undecided := -1 // the first rule that needs the address
	needIP := func() Verdict { return Verdict{Rule: p.rules[undecided].name, NeedIP: true} }
	for i := range p.rules {
		r := &p.rules[i]
		switch r.eval(q) {
		case yes:
			if undecided >= 0 && r.allow {
				return needIP()
			}
			return Verdict{Allow: r.allow, Rule: r.name}
		case unknown:
			if undecided < 0 {
				undecided = i
			}
			if r.allow {
				return needIP()
			}
		}
	}
	if undecided >= 0 && p.allow {
		return needIP()
	}
	return Verdict{Allow: p.allow, Rule: "default"}
}

// Len is the number of rules.
func (p *Policy) Len() int { return len(p.rules) }

// OpenRule names the first way an anonymous client from any address could
// be allowed: an allow rule limited by neither client address nor user or
// group, or "default" when the default allows. It returns "" when every
// path to an allow is so limited, or a deny rule turns away every client
// outside some networks first. The open-proxy check at start uses it.
func (p *Policy) OpenRule() string {
	for _, r := range p.rules {
		if !r.allow {
			if len(r.match) == 0 && len(r.not) > 0 && allLimitClients(r.not) {
				return ""
			}
			continue
		}
		if !anyLimitsClients(r.match) && !reverseOnly(r.match) {
			return r.name
		}
	}
	if p.allow {
		return "default"
	}
	return ""
}

// limitsClients reports whether m holds only for some clients: a client
// network short of everything, or an authenticated user or group.
func limitsClients(m matcher) bool {
	switch m := m.(type) {
	case *clientMatcher:
		for _, p := range append(m.v4, m.v6...) {
			if p.Bits() == 0 {
				return false
			}
		}
		return true
	case *nameMatcher:
		return m.field == fieldUser
	}
	return false
}

// reverseOnly reports whether a proto matcher keeps the rule from ever
// matching a forward listener's request (reverse mode's tcp and tls).
func reverseOnly(ms []matcher) bool {
	for _, m := range ms {
		if n, ok := m.(*nameMatcher); ok && n.field == fieldProto {
			for _, p := range forwardProtos {
				if _, ok := n.names[p]; ok {
					return false
				}
			}
			return true
		}
	}
	return false
}

func anyLimitsClients(ms []matcher) bool {
	for _, m := range ms {
		if limitsClients(m) {
			return true
		}
	}
	return false
}

func allLimitClients(ms []matcher) bool {
	for _, m := range ms {
		if !limitsClients(m) {
			return false
		}
	}
	return true
}
