package fleet

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config is the [fleet] table.
type Config struct {
	// Redis is the URL of the Redis the fleet shares:
	// redis://[user:password@]host:port[/db], rediss:// for TLS, or
	// unix:///path. Default "": no fleet, everything in process.
	Redis string `toml:"redis"`
	// Timeout bounds each Redis call a request waits on; default 5ms.
	Timeout time.Duration `toml:"timeout"`
	// Prefix starts every key ferry writes, so that fleets (or other
	// programs) can share a Redis; default "ferry:".
	Prefix string `toml:"prefix"`
	// Name is this member's name in the fleet, unique; default the host
	// name and the first listener's port.
	Name string `toml:"name"`
	// Cache shares the plain-HTTP cache among the members.
	Cache CacheConfig `toml:"cache"`
}

// CacheConfig is [fleet.cache]: the plain-HTTP cache ([cache] enabled)
// shared by the members, each URL stored by one of them, its owner, which
// the others send its requests to (issue 18 item 5).
type CacheConfig struct {
	// Listener is the [[listener]] the members send each other requests
	// on: not behind the balancer (no proxy_protocol_from), reachable by
	// the other members. Default "": the cache is not shared.
	Listener string `toml:"listener"`
	// Advertise is the host:port the other members reach Listener at;
	// default its bound address, which must then be a specific one.
	Advertise string `toml:"advertise"`
	// Members are the members' peer addresses (this one's included);
	// default none: each member announces itself in Redis every second
	// and the list is who did in the last 3 s.
	Members []string `toml:"members"`
	// Credentials are "user:password" for Listener's auth, when it asks
	// for a login; default "".
	Credentials string `toml:"credentials"`
}

// Shared reports whether the cache is shared.
func (c *CacheConfig) Shared() bool { return c.Listener != "" }

// Defaults of Config.
const (
	DefaultTimeout = 5 * time.Millisecond
	DefaultPrefix  = "ferry:"
)

// SetDefaults sets every field to its default.
func (c *Config) SetDefaults() { *c = Config{Timeout: DefaultTimeout, Prefix: DefaultPrefix} }

// Enabled reports whether a Redis is configured.
func (c *Config) Enabled() bool { return c.Redis != "" }

// Validate reports each bad field to report, by its key.
func (c *Config) Validate(report func(key, msg string)) {
	if c.Redis != "" {
		if _, err := redis.ParseURL(c.Redis); err != nil {
			report("redis", fmt.Sprintf("%v (want redis://host:port/db, rediss:// or unix://)", err))
		}
	}
	cc := &c.Cache
	if cc.Advertise != "" {
		if _, _, err := net.SplitHostPort(cc.Advertise); err != nil {
			report("cache.advertise", fmt.Sprintf("want host:port, not %q", cc.Advertise))
		}
	}
	for i, m := range cc.Members {
		if _, _, err := net.SplitHostPort(m); err != nil {
			report(fmt.Sprintf("cache.members[%d]", i), fmt.Sprintf("want host:port, not %q", m))
		}
	}
	if cc.Credentials != "" && !strings.Contains(cc.Credentials, ":") {
		report("cache.credentials", `want "user:password"`)
	}
	if cc.Shared() && len(cc.Members) == 0 && c.Redis == "" {
		report("cache.members", "a shared cache needs its members: listed here, or from redis heartbeats (fleet.redis)")
	}
	switch {
	case c.Timeout < 0:
		report("timeout", "must not be negative")
	case c.Timeout > time.Second:
		report("timeout", "at most 1s: requests wait on it (a few milliseconds is meant)")
	}
}
