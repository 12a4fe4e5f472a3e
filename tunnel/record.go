package tunnel

import "github.com/ferry-proxy/ferry/internal/accesslog"

// RecordFailure fills in the access record of a request refused or failed
// with err and answered with status (an HTTP status, or the SOCKS reply
// code sent): the status, the RFC 9209 error type of err's Kind and err
// itself; a refusal by the ACL is also marked "deny" with the deciding
// rule. Every front end (connect, socks, reverse) records a failure this
// one way, so a refusal reads the same in the log and the metrics whatever
// the protocol. A nil rec is ignored.
func RecordFailure(rec *accesslog.Record, status int, err error) {
	if rec == nil {
		return
	}
	kind := KindOf(err)
	rec.Status = status
	rec.ProxyStatus = kind.ProxyStatus()
	rec.Err = err
	if kind == Denied || kind == DeniedIP {
		rec.Decision = "deny"
		if rule := RuleOf(err); rule != "" {
			rec.Rule = rule
		}
	}
}
