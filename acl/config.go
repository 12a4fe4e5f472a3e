package acl

import (
	"fmt"
	"strconv"
)

// Config is the [acl] table: ordered rules, first match wins.
type Config struct {
	Default   string `toml:"default"`    // allow | deny when no rule matches; default deny
	Timezone  string `toml:"timezone"`   // IANA zone for time and weekday; default "Local"
	BlockPage string `toml:"block_page"` // html/template file for 403 pages; default "" (built in)
	// DefaultRules is for the config loader, which knows ferry's default
	// rules: true puts them after Rules (but for those Rules redefine by
	// name), false leaves Rules alone; nil, the default, is false but
	// for a warning when Rules redefine none of them. Compile ignores it.
	DefaultRules *bool        `toml:"default_rules"`
	Rules        []RuleConfig `toml:"rule"`
}

// RuleConfig is one [[acl.rule]]. It matches when every matcher set in it
// holds and none of those under not does.
type RuleConfig struct {
	Name     string `toml:"name"`     // in logs, 403 pages and explain; required, unique
	Action   string `toml:"action"`   // allow | deny; required
	Timezone string `toml:"timezone"` // for this rule's time and weekday; default acl.timezone
	Match
	Not *Match `toml:"not"` // matchers that must not hold
}

// Match is the set of matchers of a rule. Each takes a list (a single
// value is a list of one); a rule holds when every matcher set holds, and
// a matcher holds when any of its values does.
type Match struct {
	Domain      Values `toml:"domain"`       // "example.com", ".example.com" (and below), "*.example.com" (below only)
	DomainRegex Values `toml:"domain_regex"` // Go regular expressions (RE2) on the normalized name
	DomainList  Values `toml:"domain_list"`  // block list files (plain, hosts or AdBlock lines)
	IP          Values `toml:"ip"`           // destination addresses or CIDRs, checked on the address dialed
	Port        Values `toml:"port"`         // 443, "8000-8100"
	Client      Values `toml:"client"`       // client source addresses or CIDRs
	User        Values `toml:"user"`         // authenticated user names
	Group       Values `toml:"group"`        // groups of [auth.groups]
	Proto       Values `toml:"proto"`        // connect, http, socks, udp (forward); tcp, tls (reverse)
	Method      Values `toml:"method"`       // HTTP methods of plain-HTTP requests (CONNECT for tunnels)
	Time        Values `toml:"time"`         // "09:00-17:30"; a window may cross midnight
	Weekday     Values `toml:"weekday"`      // "mon-fri", "sat"
}

// Values is a TOML string or integer, or a list of them, as strings.
type Values []string

// UnmarshalTOML accepts "x", 443, or ["x", 443].
func (v *Values) UnmarshalTOML(data any) error {
	one := func(x any) (string, error) {
		switch t := x.(type) {
		case string:
			return t, nil
		case int64:
			return strconv.FormatInt(t, 10), nil
		}
		return "", fmt.Errorf("want a string or a number, not %T", x)
	}
	if list, ok := data.([]any); ok {
		out := make(Values, 0, len(list))
		for _, x := range list {
			s, err := one(x)
			if err != nil {
				return err
			}
			out = append(out, s)
		}
		*v = out
		return nil
	}
	s, err := one(data)
	if err != nil {
		return err
	}
	*v = Values{s}
	return nil
}

// FieldError is a problem with one key of the [acl] table; Key is relative
// to it, such as rule[2].port.
type FieldError struct {
	Key string
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

// Errors is every problem found compiling a Config.
type Errors []*FieldError

func (es Errors) Error() string {
	s := ""
	for i, e := range es {
		if i > 0 {
			s += "\n"
		}
		s += e.Error()
	}
	return s
}
