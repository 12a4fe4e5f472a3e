package auth

import "time"

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
