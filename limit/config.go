package limit

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/acl"
)

// RuleConfig is one [[limit]]: which requests it counts (the ACL's
// matchers, with not. for exceptions), what it counts them by, and the
// limits; a zero limit is off. A request must pass every rule that
// matches it.
type RuleConfig struct {
	Name string `toml:"name"` // in 429 answers, Proxy-Status, the access log and metrics; required, unique
	// Per is what is counted apart: "user" (the authenticated user; an
	// anonymous request counts by its client address), "client" (the
	// client address; an IPv6 /64 is one), or "rule" (every request the
	// rule matches together); default user.
	Per      string        `toml:"per"`
	Tunnels  int           `toml:"tunnels"`  // tunnels (and plain-HTTP requests) open at once; default 0: no limit
	Requests int           `toml:"requests"` // tunnels and plain-HTTP requests opened per window; default 0: no limit
	Window   time.Duration `toml:"window"`   // the requests' window; default 1m
	Bytes    ByteSize      `toml:"bytes"`    // bytes moved both ways per period; default 0: no limit
	Period   string        `toml:"period"`   // "day" or "month" (UTC), the bytes' period; default day
	// OnStoreError is what the rule does while the shared store (Redis)
	// cannot be reached: "open" counts in this process alone until it is
	// back; "closed" refuses what the rule matches; default open.
	OnStoreError string `toml:"on_store_error"`
	acl.Match
	Not *acl.Match `toml:"not"`
}

// Defaults of RuleConfig.
const (
	DefaultWindow = time.Minute
	PerUser       = "user"
	PerClient     = "client"
	PerRule       = "rule"
	PeriodDay     = "day"
	PeriodMonth   = "month"
	FailOpen      = "open"
	FailClosed    = "closed"
)

// SetDefaults sets every field to its default.
func (r *RuleConfig) SetDefaults() {
	*r = RuleConfig{Per: PerUser, Window: DefaultWindow, Period: PeriodDay, OnStoreError: FailOpen}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Compile checks rules and builds their Set: matchers compiled with env
// and timezone (the ACL's). Every problem goes to report by key
// (limit[1].per); the Set is then nil, as it is when there are no rules.
func Compile(rules []RuleConfig, env acl.Env, timezone string, report func(key, msg string)) *Set {
	bad := false
	var out []*Rule
	names := map[string]bool{}
	for i := range rules {
		rc := &rules[i]
		key := fmt.Sprintf("limit[%d]", i)
		r, ok := rc.compile(env, timezone, func(k, msg string) { bad = true; report(key+"."+k, msg) })
		if ok && names[r.Name] {
			bad = true
			report(key+".name", fmt.Sprintf("limit %q defined twice", r.Name))
		}
		names[r.Name] = true
		out = append(out, r)
	}
	if bad || len(out) == 0 {
		return nil
	}
	return newSet(out)
}

func (rc *RuleConfig) compile(env acl.Env, timezone string, report func(key, msg string)) (*Rule, bool) {
	ok := true
	report0 := report
	report = func(k, msg string) { ok = false; report0(k, msg) }
	if !nameRE.MatchString(rc.Name) {
		report("name", fmt.Sprintf("want a name of letters, digits, - _ . (it is sent in Proxy-Status and used in metrics), not %q", rc.Name))
	}
	r := &Rule{Name: rc.Name, Tunnels: rc.Tunnels, Requests: rc.Requests, Window: rc.Window, Bytes: int64(rc.Bytes)}
	switch rc.Per {
	case PerUser, "":
		r.per = perUser
	case PerClient:
		r.per = perClient
	case PerRule:
		r.per = perRule
	default:
		report("per", fmt.Sprintf("must be user, client or rule, not %q", rc.Per))
	}
	switch rc.Period {
	case PeriodDay, "":
		r.month = false
	case PeriodMonth:
		r.month = true
	default:
		report("period", fmt.Sprintf("must be day or month, not %q", rc.Period))
	}
	switch rc.OnStoreError {
	case FailOpen, "":
		r.FailOpen = true
	case FailClosed:
	default:
		report("on_store_error", fmt.Sprintf("must be open or closed, not %q", rc.OnStoreError))
	}
	if r.Window == 0 {
		r.Window = DefaultWindow
	}
	switch {
	case rc.Tunnels < 0 || rc.Requests < 0 || rc.Bytes < 0:
		report("tunnels", "tunnels, requests and bytes must not be negative")
	case rc.Tunnels == 0 && rc.Requests == 0 && rc.Bytes == 0:
		report("tunnels", "a limit needs tunnels, requests or bytes")
	}
	if r.Window < time.Second {
		report("window", "must be at least 1s")
	}
	if len(rc.IP) > 0 || rc.Not != nil && len(rc.Not.IP) > 0 {
		report("ip", "limits are decided before DNS: match the name (domain) or the client, not the address dialed")
	}
	m, err := acl.CompileMatch(rc.Match, rc.Not, timezone, env)
	var es acl.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			report(e.Key, e.Msg)
		}
	}
	r.match = m
	return r, ok
}

// ByteSize is a number of bytes, written as an integer or a string with
// a unit: "500MiB", "50 GiB", "1TB".
type ByteSize int64

var sizeRE = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTP]?I?B)?\s*$`)

// UnmarshalTOML accepts 1048576 or "1 MiB".
func (b *ByteSize) UnmarshalTOML(data any) error {
	switch v := data.(type) {
	case int64:
		*b = ByteSize(v)
		return nil
	case string:
		n, err := ParseByteSize(v)
		*b = n
		return err
	}
	return fmt.Errorf("want a number of bytes or a size such as \"10GiB\", not %T", data)
}

// ParseByteSize reads "10GiB" (binary), "10GB" (decimal) or "1024".
func ParseByteSize(s string) (ByteSize, error) {
	m := sizeRE.FindStringSubmatch(strings.ToUpper(s))
	if m == nil {
		return 0, fmt.Errorf("bad size %q: want a number and a unit such as 500MiB or 10GB", s)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("bad size %q: %w", s, err)
	}
	mult := map[string]float64{"": 1, "B": 1,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "PB": 1e15,
		"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40, "PIB": 1 << 50}[m[2]]
	if mult == 0 {
		return 0, fmt.Errorf("bad size %q: unknown unit %q", s, m[2])
	}
	if f*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("bad size %q: too large", s)
	}
	return ByteSize(f * mult), nil
}
