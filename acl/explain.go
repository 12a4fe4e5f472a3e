package acl

// Check is one matcher of a rule as Explain saw it.
type Check struct {
	Matcher string // what it checks, as configured ("port 443")
	Not     bool   // under not: Result is for "not (Matcher)"
	Result  string // "yes", "no" or "needs the address"
}

// Step is one rule walked by Explain.
type Step struct {
	Rule   string
	Allow  bool   // the rule's action
	Result string // "match", "no match" or "needs the address"
	Checks []Check
}

// Explain walks the rules as Decide does and tells, for each rule walked,
// what every matcher said. It allocates; it is for ferry explain, not for
// requests.
func (p *Policy) Explain(q *Query) ([]Step, Verdict) {
	var steps []Step
	for i := range p.rules {
		r := &p.rules[i]
		st := Step{Rule: r.name, Allow: r.allow}
		for _, m := range r.match {
			st.Checks = append(st.Checks, Check{Matcher: m.String(), Result: m.match(q).String()})
		}
		for _, m := range r.not {
			res := m.match(q)
			switch res {
			case yes:
				res = no
			case no:
				res = yes
			}
			st.Checks = append(st.Checks, Check{Matcher: m.String(), Not: true, Result: res.String()})
		}
		res := r.eval(q)
		st.Result = [...]string{"no match", "match", "needs the address"}[res]
		steps = append(steps, st)
		if res == yes || res == unknown && r.allow {
			break // as Decide: past a deny that needs the address, the walk goes on
		}
	}
	return steps, p.Decide(q)
}
