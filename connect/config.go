package connect

import (
	"fmt"
	"time"

	"github.com/ferry-proxy/ferry/connect/forward"
)

// Config holds the HTTP front end's settings: its part of [limits], what
// only code sets, and plain-HTTP forwarding's (Forward: [http],
// limits.response_timeout, the pool, the cache).
type Config struct {
	Limits
	// HandshakeTimeout bounds reading a request head; default the engine's
	// (limits.handshake_timeout, which the front listener applies too).
	HandshakeTimeout time.Duration
	Forward          forward.Config
	HTTP2            HTTP2 // [http2]: clients that chose h2 on a TLS listener
}

// Limits are the keys of [limits] the HTTP front end applies.
type Limits struct {
	KeepAliveTimeout time.Duration `toml:"keepalive_timeout"` // idle client connection between requests; default 60s
	MaxHeaderBytes   int           `toml:"max_header_bytes"`  // request head size; larger gets 431; default 64 KiB
}

// Forwarded modes: what ferry tells origins about the client.
const (
	ForwardedOff   = forward.ForwardedOff
	ForwardedAdd   = forward.ForwardedAdd
	ForwardedStrip = forward.ForwardedStrip
)

// Defaults of Limits.
const (
	DefaultKeepAliveTimeout = 60 * time.Second
	DefaultMaxHeaderBytes   = 64 << 10
)

// SetDefaults sets every field to its default.
func (l *Limits) SetDefaults() {
	*l = Limits{KeepAliveTimeout: DefaultKeepAliveTimeout, MaxHeaderBytes: DefaultMaxHeaderBytes}
}

// Validate reports each bad field to report, by its key.
func (l *Limits) Validate(report func(key, msg string)) {
	if l.KeepAliveTimeout < 0 {
		report("keepalive_timeout", "must not be negative")
	}
	if l.MaxHeaderBytes < 1024 || l.MaxHeaderBytes > 16<<20 {
		report("max_header_bytes", fmt.Sprintf("must be between 1024 and 16777216, not %d", l.MaxHeaderBytes))
	}
}

// setDefaults fills what is zero; the handshake timeout comes from the
// engine (New), forwarding's defaults from forward.
func (c *Config) setDefaults() {
	if c.KeepAliveTimeout <= 0 {
		c.KeepAliveTimeout = DefaultKeepAliveTimeout
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if h := &c.HTTP2; h.MaxConcurrentStreams <= 0 || h.StreamWindow <= 0 || h.ConnWindow <= 0 {
		h.SetDefaults()
	}
}
