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
