package limit

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/ferry-proxy/ferry/acl"
)

// Rule is one compiled [[limit]].
type Rule struct {
	Name     string
	Tunnels  int           // at once; 0 none
	Requests int           // per Window; 0 none
	Window   time.Duration //
	Bytes    int64         // per day or month; 0 none
	FailOpen bool          // on_store_error = "open"

	per   per
	month bool
	match *acl.MatchSet
}

type per uint8

const (
	perUser per = iota
	perClient
	perRule
)

// Set is the compiled [[limit]] rules of one config; a reload makes a
// new one. It is immutable.
type Set struct{ rules []*Rule }

func newSet(rules []*Rule) *Set { return &Set{rules: rules} }

// Rules are the rules in config order.
func (s *Set) Rules() []*Rule {
	if s == nil {
		return nil
	}
	return s.rules
}

// who is what q is counted by under r, the tail of its keys: "u:alice",
// "c:192.0.2.1", "c:2001:db8::/64", or "*" for the whole rule.
func (r *Rule) who(q *acl.Query) string {
	switch {
	case r.per == perRule:
		return "*"
	case r.per == perUser && q.User != "":
		return "u:" + q.User
	}
	return "c:" + clientKey(q.Client)
}

// describe says who for a person: "user alice", "client 192.0.2.1".
func describe(who string) string {
	switch {
	case who == "*":
		return "everyone the rule matches"
	case len(who) > 2 && who[:2] == "u:":
		return "user " + who[2:]
	}
	return "client " + who[2:]
}

// clientKey groups an IPv6 client by its /64, the smallest block one
// subscriber is usually given (as the login throttle does).
func clientKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// checks appends r's checks for a request counted as who at now.
func (r *Rule) checks(out []Check, who string, now time.Time) []Check {
	if r.Tunnels > 0 {
		out = append(out, Check{Kind: Slot, Key: "t|" + r.Name + "|" + who, Max: int64(r.Tunnels)})
	}
	if r.Requests > 0 {
		w := int64(r.Window)
		idx := now.UnixNano() / w
		left := time.Duration(w - now.UnixNano()%w)
		out = append(out, Check{Kind: Rate, Key: "r|" + r.Name + "|" + strconv.FormatInt(idx, 10) + "|" + who,
			Max: int64(r.Requests), TTL: left + time.Second})
	}
	if r.Bytes > 0 {
		a := r.quotaAdd(who, 0, now)
		out = append(out, Check{Kind: Quota, Key: a.Key, Max: r.Bytes, TTL: a.TTL})
	}
	return out
}

// quotaAdd is n bytes counted as who at now: the key of now's period,
// which lives an hour past its end.
func (r *Rule) quotaAdd(who string, n int64, now time.Time) Add {
	start, end := r.period(now)
	return Add{Key: "b|" + r.Name + "|" + start.Format("20060102") + "|" + who, N: n, TTL: end.Sub(now) + time.Hour}
}

// period is the UTC day or month now is in.
func (r *Rule) period(now time.Time) (start, end time.Time) {
	now = now.UTC()
	if r.month {
		start = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
	start = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 0, 1)
}

// retryAfter is how long until a request refused by check c of r may
// pass: a slot may free any moment (1s), a window or period ends.
func (r *Rule) retryAfter(c Check, now time.Time) time.Duration {
	switch c.Kind {
	case Rate:
		w := int64(r.Window)
		return time.Duration(w - now.UnixNano()%w)
	case Quota:
		_, end := r.period(now)
		return end.Sub(now)
	}
	return time.Second
}
