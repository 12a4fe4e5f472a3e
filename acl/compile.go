package acl

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Env is what compiling a Config needs from outside the [acl] table.
type Env struct {
	// Groups maps a group name to its users ([auth.groups]).
	Groups map[string][]string
	// LoadList loads a domain_list file. Nil when only validating: lists
	// are then not read and match nothing.
	LoadList func(path string) (*DomainSet, error)
	// Self is the host's addresses, which ip = ["self"] names; nil: a rule
	// that names them is refused.
	Self *AddrSet
}

// maxFewPatterns is where a rule's domain patterns go from one-by-one
// compares to a DomainSet: about where eight compares cost a few probes.
const maxFewPatterns = 8

// Protocol names a rule's proto matcher accepts (Query.Proto): the forward
// proxy's (udp: datagrams of a SOCKS5 UDP association or a CONNECT-UDP
// tunnel, each destination checked), and reverse mode's tcp and tls
// listeners.
var protos = []string{"connect", "http", "socks", "udp", "tcp", "tls"}

// forwardProtos are those a forward listener's clients arrive by.
var forwardProtos = protos[:4]

// Compile checks cfg and builds the Policy it describes. Every problem is
// reported, each naming its key.
func Compile(cfg Config, env Env) (*Policy, error) {
	var errs Errors
	bad := func(key, format string, args ...any) {
		errs = append(errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	p := &Policy{}
	switch cfg.Default {
	case "", "deny":
	case "allow":
		p.allow = true
	default:
		bad("default", "must be allow or deny, not %q", cfg.Default)
	}
	loc, err := loadZone(cfg.Timezone)
	if err != nil {
		bad("timezone", "%v", err)
		loc = time.Local
	}
	names := map[string]bool{"default": true}
	for i, rc := range cfg.Rules {
		key := fmt.Sprintf("rule[%d]", i)
		r := rule{name: rc.Name}
		switch {
		case rc.Name == "":
			bad(key+".name", "every rule needs a name (it is shown in logs and block pages)")
		case names[rc.Name]:
			bad(key+".name", "rule name %q used twice (or the reserved name default)", rc.Name)
		}
		names[rc.Name] = true
		switch rc.Action {
		case "allow":
			r.allow = true
		case "deny":
		default:
			bad(key+".action", "must be allow or deny, not %q", rc.Action)
		}
		rloc := loc
		if rc.Timezone != "" {
			if rloc, err = loadZone(rc.Timezone); err != nil {
				bad(key+".timezone", "%v", err)
				rloc = loc
			}
		}
		var e Errors
		r.match, e = compileMatch(key, &rc.Match, rloc, env)
		errs = append(errs, e...)
		if rc.Not != nil {
			r.not, e = compileMatch(key+".not", rc.Not, rloc, env)
			errs = append(errs, e...)
		}
		p.rules = append(p.rules, r)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return p, nil
}

func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (want an IANA name such as Europe/Berlin, or UTC)", name)
	}
	return loc, nil
}

// compileMatch turns one Match into matchers, cheapest first so a rule
// that fails is usually told so by a compare rather than a lookup.
func compileMatch(key string, m *Match, loc *time.Location, env Env) ([]matcher, Errors) {
	c := &compiler{key: key}
	c.names(m, env)
	c.ranges(m, loc)
	c.domains(m, env)
	// The address matcher last: it is the one that may say "unknown", and
	// a rule another matcher rules out is then dropped without asking it.
	if len(m.IP) > 0 {
		im, err := newIPMatcher(m.IP, env.Self)
		c.add("ip", im, err)
	}
	return c.out, c.errs
}

// compiler collects one match table's matchers and its field errors.
type compiler struct {
	key  string
	out  []matcher
	errs Errors
}

func (c *compiler) bad(field string, err error) {
	c.errs = append(c.errs, &FieldError{Key: c.key + "." + field, Msg: err.Error()})
}

// add appends m, or reports err for field.
func (c *compiler) add(field string, m matcher, err error) {
	if err != nil {
		c.bad(field, err)
		return
	}
	c.out = append(c.out, m)
}

// names compiles the matchers on names: protocol, method, user, group.
func (c *compiler) names(m *Match, env Env) {
	if len(m.Proto) > 0 {
		for _, v := range m.Proto {
			if !contains(protos, v) {
				c.bad("proto", fmt.Errorf("%q is not a protocol: want connect, http, socks, udp (forward) or tcp, tls (reverse)", v))
			}
		}
		c.out = append(c.out, newNameMatcher("proto "+strings.Join(m.Proto, ", "), fieldProto, m.Proto))
	}
	if len(m.Method) > 0 {
		up := make([]string, len(m.Method))
		for i, v := range m.Method {
			up[i] = strings.ToUpper(v)
			if !isToken(up[i]) {
				c.bad("method", fmt.Errorf("%q is not an HTTP method", v))
			}
		}
		c.out = append(c.out, newNameMatcher("method "+strings.Join(up, ", "), fieldMethod, up))
	}
	if len(m.User) > 0 {
		c.out = append(c.out, newNameMatcher("user "+strings.Join(m.User, ", "), fieldUser, m.User))
	}
	if len(m.Group) > 0 {
		var members []string
		for _, g := range m.Group {
			us, ok := env.Groups[g]
			if !ok {
				c.bad("group", fmt.Errorf("no group %q in [auth.groups]", g))
			}
			members = append(members, us...)
		}
		c.out = append(c.out, newNameMatcher("group "+strings.Join(m.Group, ", "), fieldUser, members))
	}
}

// ranges compiles the matchers on ranges: port, client address, weekday,
// time of day.
func (c *compiler) ranges(m *Match, loc *time.Location) {
	if len(m.Port) > 0 {
		pm, err := parsePorts(m.Port)
		c.add("port", pm, err)
	}
	if len(m.Client) > 0 {
		p, err := parsePrefixes(m.Client)
		c.add("client", &clientMatcher{p}, err)
	}
	if len(m.Weekday) > 0 {
		w, err := parseWeekdays(m.Weekday, loc)
		c.add("weekday", w, err)
	}
	if len(m.Time) > 0 {
		t, err := parseTimes(m.Time, loc)
		c.add("time", t, err)
	}
}

// domains compiles the matchers on the target's name: domain patterns,
// domain lists, regular expressions.
func (c *compiler) domains(m *Match, env Env) {
	if len(m.Domain) > 0 {
		dm := &domainMatcher{desc: "domain " + strings.Join(m.Domain, ", ")}
		for _, v := range m.Domain {
			name, kind, err := parseDomainPattern(v, matchExact)
			if err != nil {
				c.bad("domain", err)
				continue
			}
			dm.few = append(dm.few, pattern{name, kind})
		}
		if len(dm.few) > maxFewPatterns {
			set := NewDomainSet(len(dm.few))
			for _, p := range dm.few {
				set.add(p.name, p.kind)
			}
			dm.few, dm.sets = nil, []*DomainSet{set}
		}
		c.out = append(c.out, dm)
	}
	if len(m.DomainList) > 0 {
		dm := &domainMatcher{desc: "domain_list " + strings.Join(m.DomainList, ", ")}
		for _, path := range m.DomainList {
			if path == "" {
				c.bad("domain_list", fmt.Errorf("empty file name"))
				continue
			}
			if env.LoadList == nil {
				continue
			}
			s, err := env.LoadList(path)
			if err != nil {
				c.bad("domain_list", err)
				continue
			}
			dm.sets = append(dm.sets, s)
		}
		c.out = append(c.out, dm)
	}
	if len(m.DomainRegex) > 0 {
		rm := &regexMatcher{}
		for _, v := range m.DomainRegex {
			re, err := regexp.Compile(v)
			if err != nil {
				c.bad("domain_regex", fmt.Errorf("%q: %v", v, err))
				continue
			}
			rm.res = append(rm.res, re)
		}
		c.out = append(c.out, rm)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// isToken reports whether s is an RFC 9110 §5.6.2 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
