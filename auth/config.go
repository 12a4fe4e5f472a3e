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
}

// UserConfig is one [[auth.user]].
type UserConfig struct {
	Name   string `toml:"name"`
	Bcrypt string `toml:"bcrypt"` // the hash, as htpasswd -B or ferry hash-password prints it
}

// DefaultCacheTTL is how long a verified user:password stays verified.
const DefaultCacheTTL = 5 * time.Minute

// SetDefaults sets every field to its default.
func (c *Config) SetDefaults() { *c = Config{CacheTTL: DefaultCacheTTL} }

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
	for _, g := range slices.Sorted(maps.Keys(c.Groups)) {
		if len(c.Groups[g]) == 0 {
			report("groups."+g, fmt.Sprintf("group %q has no members", g))
		}
	}
}

// HasUsers reports whether any user can log in with a password.
func (c *Config) HasUsers() bool { return c.Htpasswd != "" || len(c.Users) > 0 }
