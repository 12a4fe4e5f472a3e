package fleet

import (
	"fmt"
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
}

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
	switch {
	case c.Timeout < 0:
		report("timeout", "must not be negative")
	case c.Timeout > time.Second:
		report("timeout", "at most 1s: requests wait on it (a few milliseconds is meant)")
	}
}
