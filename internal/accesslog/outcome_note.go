package accesslog

import "github.com/ferry-proxy/ferry/tunnel"

// Note copies what the engine decided and did for the request into r: the
// ACL's verdict, the route and upstream, the dial. Every front end fills
// its record from the engine's Outcome here, and nowhere else.
func (r *Record) Note(o tunnel.Outcome) {
	cur := tunnel.Outcome{Rule: r.Rule, Decision: r.Decision, Route: r.Route, Upstream: r.Upstream,
		Dialed: r.Dialed, DialFailed: r.DialFailed, Dial: r.Dial}
	n := cur.Then(o)
	r.Rule, r.Decision, r.Route, r.Upstream = n.Rule, n.Decision, n.Route, n.Upstream
	r.Dialed, r.DialFailed, r.Dial = n.Dialed, n.DialFailed, n.Dial
}

// Fail notes a request refused or failed with err and answered with
// status (an HTTP status, or the SOCKS reply code sent): the status, the
// RFC 9209 error type of err's kind and err itself; a refusal by the ACL
// is also marked deny, with the deciding rule when err carries it. Every
// front end records a failure this one way, so a refusal reads the same
// in the log and the metrics whatever the protocol. A nil r is ignored.
func (r *Record) Fail(status int, err error) {
	if r == nil {
		return
	}
	kind := tunnel.KindOf(err)
	r.Status = status
	r.ProxyStatus = kind.ProxyStatus()
	r.Err = err
	if kind == tunnel.Denied || kind == tunnel.DeniedIP {
		r.Decision = tunnel.DecisionDeny
		if rule := tunnel.RuleOf(err); rule != "" {
			r.Rule = rule
		}
	}
}
