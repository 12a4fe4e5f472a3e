package acl

// Result is what a MatchSet says of a Query.
type Result uint8

// The results of MatchSet.Eval.
const (
	NoMatch Result = iota // some matcher does not hold
	Matches               // every matcher holds
	NeedsIP               // it would match but for an address not known yet
)

// MatchSet is the conditions of a rule without its action: the same
// matchers, compiled the same way, for tables other than [acl] that pick
// something by request (the [[route]] table). It is immutable and safe for
// concurrent use.
type MatchSet struct{ r rule }

// CompileMatch compiles m (and the matchers under not, which must not
// hold) with times in timezone ("" or "Local" for the host's). Problems
// are reported with keys relative to the table, as Compile does.
func CompileMatch(m Match, not *Match, timezone string, env Env) (*MatchSet, error) {
	var errs Errors
	loc, err := loadZone(timezone)
	if err != nil {
		errs = append(errs, &FieldError{Key: "timezone", Msg: err.Error()})
	}
	var s MatchSet
	var e Errors
	s.r.match, e = compileMatch("", &m, loc, env)
	errs = append(errs, e...)
	if not != nil {
		s.r.not, e = compileMatch("not", not, loc, env)
		errs = append(errs, e...)
	}
	if len(errs) > 0 {
		for _, fe := range errs {
			if len(fe.Key) > 0 && fe.Key[0] == '.' {
				fe.Key = fe.Key[1:]
			}
		}
		return nil, errs
	}
	return &s, nil
}

// Eval tells whether q matches. A set with no matchers matches everything.
// NeedsIP is returned only when nothing else rules the set out, as in
// Decide: the caller resolves the name and asks again with an address.
func (s *MatchSet) Eval(q *Query) Result {
	switch s.r.eval(q) {
	case yes:
		return Matches
	case unknown:
		return NeedsIP
	}
	return NoMatch
}

// String describes the matchers, for logs and tests.
func (s *MatchSet) String() string {
	out := ""
	for _, m := range s.r.match {
		if out != "" {
			out += "; "
		}
		out += m.String()
	}
	for _, m := range s.r.not {
		if out != "" {
			out += "; "
		}
		out += "not " + m.String()
	}
	if out == "" {
		return "everything"
	}
	return out
}
