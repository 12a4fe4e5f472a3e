package tunnel

import "time"

// UDPConfig bounds datagram associations (SOCKS5 UDP ASSOCIATE and
// CONNECT-UDP): the [limits.udp] table.
type UDPConfig struct {
	// IdleTimeout ends an association no datagram crossed either way for
	// this long; 0 leaves it to its control connection. Default 2m: what
	// NATs give a UDP flow, and longer than DNS, QUIC and RTP stay silent.
	IdleTimeout time.Duration `toml:"idle_timeout"`
	// MaxAssociations open at once, in all; more are refused (SOCKS5 reply
	// 0x01, HTTP 503). Default 1000; 0 unlimited.
	MaxAssociations int `toml:"max_associations"`
	// MaxPerClient is the associations one client address (an IPv6 /64)
	// may hold at once. Default 32; 0 unlimited.
	MaxPerClient int `toml:"max_per_client"`
	// MaxDestinations is the destinations one association may send to;
	// datagrams to more are dropped and counted. Default 256; 0 unlimited.
	MaxDestinations int `toml:"max_destinations"`
}

// Defaults of UDPConfig.
const (
	DefaultUDPIdleTimeout   = 2 * time.Minute
	DefaultMaxAssociations  = 1000
	DefaultMaxPerClient     = 32
	DefaultMaxDestinations  = 256
	DefaultBindTimeout      = time.Minute
	maxQueuedPerDestination = 16      // datagrams that wait for their destination's setup
	maxQueuedBytes          = 1 << 20 // bytes that wait for setups, in all, per association
)

// SetDefaults sets every field to its default.
func (c *UDPConfig) SetDefaults() {
	*c = UDPConfig{
		IdleTimeout:     DefaultUDPIdleTimeout,
		MaxAssociations: DefaultMaxAssociations,
		MaxPerClient:    DefaultMaxPerClient,
		MaxDestinations: DefaultMaxDestinations,
	}
}

// Validate reports each bad field to report, by its key.
func (c *UDPConfig) Validate(report func(key, msg string)) {
	if c.IdleTimeout < 0 {
		report("idle_timeout", "must not be negative")
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"max_associations", c.MaxAssociations}, {"max_per_client", c.MaxPerClient}, {"max_destinations", c.MaxDestinations}} {
		if n.v < 0 {
			report(n.key, "must not be negative (0 is unlimited)")
		}
	}
}
