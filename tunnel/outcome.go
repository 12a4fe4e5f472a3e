package tunnel

import "time"

// Outcome is what the engine decided and did for one request: the ACL's
// verdict, the route, and the dial. Each engine call returns the outcome
// so far, on success and on failure alike; the front end copies it into
// its access record in one place. The engine itself writes no log.
type Outcome struct {
	Rule     string // the ACL rule that decided last; "" when none has
	Decision string // DecisionAllow, DecisionDeny, DecisionUndecided; "" when not asked
	Route    string // the route that matched; "" when the request was not routed
	Upstream string // the upstream that served, or was tried last; "" direct
	Dialed   string // ip:port connected to, or the last one tried when DialFailed
	// DialFailed is set when no address tried answered (refused,
	// unreachable, timed out); Dialed is then the last one tried.
	DialFailed bool
	Dial       time.Duration // time spent dialing, upstream hops included
}

// Decisions of an Outcome.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
	// DecisionUndecided: Rule waits for the address, and no address was
	// checked (the name did not resolve): a DNS failure's access line
	// still says which rule it was left to.
	DecisionUndecided = "undecided"
)

func (o *Outcome) decided(rule string, allow bool) {
	o.Rule = rule
	o.Decision = DecisionDeny
	if allow {
		o.Decision = DecisionAllow
	}
}

// Then is o followed by a later step's outcome: what the later step
// decided or did replaces what o said; what it left empty, o keeps.
func (o Outcome) Then(later Outcome) Outcome {
	if later.Decision != "" {
		o.Rule, o.Decision = later.Rule, later.Decision
	}
	if later.Route != "" {
		o.Route = later.Route
	}
	if later.Upstream != "" {
		o.Upstream = later.Upstream
	}
	if later.Dialed != "" {
		o.Dialed, o.DialFailed = later.Dialed, later.DialFailed
	}
	if later.Dial > 0 {
		o.Dial = later.Dial
	}
	return o
}
