package auth

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// Config is the [auth] table.
type Config struct {
	Htpasswd string              `toml:"htpasswd"`  // file of user:bcrypt-hash lines; default "" (none)
	Users    []UserConfig        `toml:"user"`      // users written inline
	Groups   map[string][]string `toml:"groups"`    // group name → user names, for acl group matchers
	CacheTTL time.Duration       `toml:"cache_ttl"` // how long a successful check is remembered; default 5m, 0 never
	Throttle Throttle            `toml:"throttle"`  // limits on failed logins; default DefaultThrottle
}

// UserConfig is one [[auth.user]].
type UserConfig struct {
	Name   string `toml:"name"`
	Bcrypt string `toml:"bcrypt"` // the hash, as htpasswd -B or ferry hash-password prints it
}

// DefaultCacheTTL is how long a verified user:password stays verified.
const DefaultCacheTTL = 5 * time.Minute

// SetDefaults sets every field to its default.
func (c *Config) SetDefaults() { *c = Config{CacheTTL: DefaultCacheTTL, Throttle: DefaultThrottle} }

// Validate reports each bad field to report, by its key. The htpasswd
// file is read by Load.
func (c *Config) Validate(report func(key, msg string)) {
	names := map[string]bool{}
	for i, u := range c.Users {
		key := fmt.Sprintf("user[%d]", i)
		switch {
		case u.Name == "":
			report(key+".name", "every user needs a name")
		case names[u.Name]:
			report(key+".name", fmt.Sprintf("user %q defined twice", u.Name))
		}
		names[u.Name] = true
		if err := CheckHash(u.Bcrypt); err != nil {
			report(key+".bcrypt", err.Error())
		}
	}
	if c.CacheTTL < 0 {
		report("cache_ttl", "must not be negative")
	}
	for _, l := range []struct {
		key string
		n   int
	}{{"client_failures", c.Throttle.ClientFailures}, {"client_checks", c.Throttle.ClientChecks}, {"user_failures", c.Throttle.UserFailures}} {
		if l.n < 0 {
			report("throttle."+l.key, "must not be negative (0 turns the limit off)")
		}
	}
	for _, g := range slices.Sorted(maps.Keys(c.Groups)) {
		if len(c.Groups[g]) == 0 {
			report("groups."+g, fmt.Sprintf("group %q has no members", g))
		}
	}
}

// HasUsers reports whether any user can log in with a password.
func (c *Config) HasUsers() bool { return c.Htpasswd != "" || len(c.Users) > 0 }

// Throttle is the [auth.throttle] table: how the engine limits password
// guessing (issue 20 item 5). An attempt over a limit is refused before
// any check. A zero field turns its limit off.
type Throttle struct {
	// ClientFailures is how many failed logins one client address (an
	// IPv6 /64 counts as one) may make a minute, all at once or spread;
	// default 30.
	ClientFailures int `toml:"client_failures"`
	// ClientChecks is how many password checks one client address may
	// have in progress; ClientQueue times as many more wait their turn.
	// It keeps one client from holding the bcrypt workers every other
	// client's first login needs; default 2.
	ClientChecks int `toml:"client_checks"`
	// UserFailures is how many failed logins one user name may take a
	// minute, from all addresses together but those it logged in from in
	// the last day, so its owner is not locked out by others' guessing;
	// default 10.
	UserFailures int `toml:"user_failures"`
}

// DefaultThrottle: a person who mistypes a password, or a few dozen behind
// one NAT address, never meets these; a guessing client gets 30 tries and
// then one every 2 s, 10 and then one every 6 s per account.
var DefaultThrottle = Throttle{ClientFailures: 30, ClientChecks: 2, UserFailures: 10}

// ClientQueue is how many attempts per ClientChecks may wait for a check
// from one client address; more are refused at once.
const ClientQueue = 4
