package acl

import (
	"net/netip"
	"time"
)

// Query is what a decision is made on. Fields left zero are unknown.
type Query struct {
	Host   string     // target name, lower case, no trailing dot; "" for an IP literal
	IP     netip.Addr // address to be dialed; invalid while only the name is known
	Port   uint16
	Proto  string // "connect", "http", "socks" or "udp"; "tcp" or "tls" for reverse mode
	Method string // HTTP method of a plain-HTTP request
	User   string // authenticated user, "" when anonymous
	Client netip.Addr
	Time   time.Time
}

// Verdict is the answer to a Query.
type Verdict struct {
	Allow  bool
	Rule   string // name of the rule that decided; "default" when none matched
	NeedIP bool   // undecided until the address is known (Query.IP invalid)
}

// Decider decides. Implementations are safe for concurrent use and do not
// allocate on the hot path.
type Decider interface{ Decide(q *Query) Verdict }

// AllowAll is the Decider of a policy with no rules and an allow default.
type AllowAll struct{}

// Decide allows everything.
func (AllowAll) Decide(*Query) Verdict { return Verdict{Allow: true, Rule: "default"} }

// ForMethod reports whether v, the verdict on q, allowed q for its
// method: a rule allowed it, and that rule does not allow q without the
// method. ferry serves PURGE only when so allowed: a rule that allows a
// client everything does not count, nor the default, nor a verdict still
// waiting for the address.
func ForMethod(d Decider, q Query, v Verdict) bool {
	if !v.Allow || v.NeedIP || v.Rule == "default" || v.Rule == "" {
		return false
	}
	q.Method = ""
	w := d.Decide(&q)
	return !(w.Allow && w.Rule == v.Rule)
}
