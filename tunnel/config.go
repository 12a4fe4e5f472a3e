package tunnel

import (
	"fmt"
	"time"
)

// Config is the engine's part of [limits]: how long each step of a
// connection may take. Every front end takes its handshake deadline from
// here (Engine.HandshakeTimeout), so the setting has one home.
type Config struct {
	HandshakeTimeout time.Duration `toml:"handshake_timeout"` // a client's request head or SOCKS handshake; default 10s
	DialTimeout      time.Duration `toml:"dial_timeout"`      // DNS and connect to a target; default 10s
	IdleTimeout      time.Duration `toml:"idle_timeout"`      // a relay with no byte moving is closed; default 5m; 0 never
	BindTimeout      time.Duration `toml:"bind_timeout"`      // a SOCKS5 BIND waits this long for its peer (bind.go); default 1m
	UDP              UDPConfig     `toml:"udp"`               // [limits.udp]: datagram associations (packet*.go)
}

// Defaults of Config. New also applies the first two to zero values.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultDialTimeout      = 10 * time.Second
	DefaultIdleTimeout      = 5 * time.Minute
)

// SetDefaults sets every field to its default (UDP has its own).
func (c *Config) SetDefaults() {
	*c = Config{HandshakeTimeout: DefaultHandshakeTimeout, DialTimeout: DefaultDialTimeout, IdleTimeout: DefaultIdleTimeout,
		BindTimeout: DefaultBindTimeout}
}

// Validate reports each bad field to report, by its key.
func (c *Config) Validate(report func(key, msg string)) {
	for _, d := range []struct {
		key  string
		v    time.Duration
		zero string // why zero is refused; "" when it means something
	}{
		{"handshake_timeout", c.HandshakeTimeout, "must be positive: every client read needs a deadline"},
		{"dial_timeout", c.DialTimeout, "must be positive"},
		{"idle_timeout", c.IdleTimeout, ""},
		{"bind_timeout", c.BindTimeout, "must be positive: a BIND waits for its peer at most this long"},
	} {
		switch {
		case d.v < 0:
			report(d.key, "must not be negative")
		case d.v == 0 && d.zero != "":
			report(d.key, d.zero)
		}
	}
	c.UDP.Validate(func(key, msg string) { report("udp."+key, msg) })
}

// ListenerPolicy is what a listener asks of its clients: the auth keys of
// a [[listener]].
type ListenerPolicy struct {
	Auth bool `toml:"auth"` // credentials required (HTTP 407, SOCKS5 method 0x02); default false
	// SOCKS4Auth lets SOCKS4 clients on an Auth listener authenticate by
	// sending "user:password" as the USERID; without it they get 93.
	SOCKS4Auth bool `toml:"socks4_auth"` // default false
}

// HealthSpec is an upstream's passive and active health checking, the
// [upstream.health] table.
type HealthSpec struct {
	Backoff    time.Duration `toml:"backoff"`     // first time out after a failure, doubling; default 2s
	MaxBackoff time.Duration `toml:"max_backoff"` // the most a failing upstream is left out; default 1m, or Backoff if longer
	Probe      string        `toml:"probe"`       // host:port to open a tunnel to as an active check; default "": none
	Interval   time.Duration `toml:"interval"`    // between active checks; default 30s
}

// Defaults of HealthSpec.
const (
	DefaultBackoff       = 2 * time.Second
	DefaultMaxBackoff    = time.Minute
	DefaultProbeInterval = 30 * time.Second
)

// SetDefaults sets every field to its default (MaxBackoff stays 0: its
// default depends on Backoff).
func (h *HealthSpec) SetDefaults() {
	*h = HealthSpec{Backoff: DefaultBackoff, Interval: DefaultProbeInterval}
}

// setDefaults fills what is zero.
func (h *HealthSpec) setDefaults() {
	if h.Backoff <= 0 {
		h.Backoff = DefaultBackoff
	}
	if h.MaxBackoff < h.Backoff {
		h.MaxBackoff = max(DefaultMaxBackoff, h.Backoff)
	}
	if h.Interval <= 0 {
		h.Interval = DefaultProbeInterval
	}
}

// validate reports bad fields, then fills the zero ones, so that ferry
// check prints what the upstream will do.
func (h *HealthSpec) validate(report func(key, msg string)) {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"backoff", h.Backoff}, {"max_backoff", h.MaxBackoff}, {"interval", h.Interval}} {
		if d.v < 0 {
			report(d.key, "must not be negative")
		}
	}
	if h.MaxBackoff > 0 && h.MaxBackoff < h.Backoff {
		report("max_backoff", "must not be less than backoff")
	}
	if h.Probe != "" {
		if err := checkTarget(h.Probe); err != nil {
			report("probe", err.Error())
		}
	}
	h.setDefaults()
}

// GroupSpec is one [[upstream_group]].
type GroupSpec struct {
	Name    string   `toml:"name"`    // used like an upstream's name; required
	Members []string `toml:"members"` // upstream names, in failover order; required
	Policy  string   `toml:"policy"`  // PolicyFailover, PolicyRoundRobin or PolicyLeastConns; default failover
}

// SetDefaults sets every field to its default.
func (g *GroupSpec) SetDefaults() { *g = GroupSpec{Policy: PolicyFailover} }

// under prefixes report's keys with key.
func under(key string, report func(key, msg string)) func(string, string) {
	return func(k, msg string) { report(key+"."+k, msg) }
}

// reportf is report with a format.
func reportf(report func(key, msg string), key, format string, args ...any) {
	report(key, fmt.Sprintf(format, args...))
}
