package forward

import (
	"fmt"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/cache"
)

// Config holds plain-HTTP forwarding's settings: the [http] table, its
// part of [limits], and what only code sets.
type Config struct {
	HTTP
	Limits
	MaxIdleConns      int           // pooled outbound conns in all; default DefaultMaxIdleConns
	MaxIdlePerHost    int           // pooled outbound conns per origin or upstream; default 256
	OriginIdleTimeout time.Duration // a pooled conn unused this long is closed; default 90s
	Cache             *cache.Cache  // the shared cache; nil: none
}

// HTTP is the [http] table: what forwarding tells origins.
type HTTP struct {
	Forwarded string `toml:"forwarded"` // ForwardedOff, ForwardedAdd or ForwardedStrip; default off
	ViaName   string `toml:"via"`       // pseudonym in Via (RFC 9110 §7.6.3); default "ferry"
}

// Limits are the keys of [limits] forwarding applies.
type Limits struct {
	// ResponseTimeout is how long to wait for a response head; default 0:
	// the engine's idle timeout, as long as a tunnel may idle.
	ResponseTimeout time.Duration `toml:"response_timeout"`
}

// DefaultMaxIdleConns is the default of Config.MaxIdleConns.
const DefaultMaxIdleConns = 1024

// DefaultViaName is the default of HTTP.ViaName.
const DefaultViaName = "ferry"

// SetDefaults sets every field to its default.
func (h *HTTP) SetDefaults() { *h = HTTP{Forwarded: ForwardedOff, ViaName: DefaultViaName} }

// Validate reports each bad field to report, by its key.
func (h *HTTP) Validate(report func(key, msg string)) {
	switch h.Forwarded {
	case ForwardedOff, ForwardedAdd, ForwardedStrip:
	default:
		report("forwarded", fmt.Sprintf("must be off, add or strip, not %q", h.Forwarded))
	}
	if h.ViaName == "" || strings.ContainsAny(h.ViaName, " \t\r\n,;()\"") {
		report("via", fmt.Sprintf("must be one token (letters, digits, -._), not %q", h.ViaName))
	}
}

// Validate reports each bad field to report, by its key.
func (l *Limits) Validate(report func(key, msg string)) {
	if l.ResponseTimeout < 0 {
		report("response_timeout", "must not be negative")
	}
}

func (c *Config) setDefaults(idle time.Duration) {
	if c.Forwarded == "" {
		c.Forwarded = ForwardedOff
	}
	if c.ViaName == "" {
		c.ViaName = DefaultViaName
	}
	if c.MaxIdleConns <= 0 {
		c.MaxIdleConns = DefaultMaxIdleConns
	}
	if c.MaxIdlePerHost <= 0 {
		c.MaxIdlePerHost = 256
	}
	if c.OriginIdleTimeout <= 0 {
		c.OriginIdleTimeout = 90 * time.Second
	}
	if c.ResponseTimeout <= 0 {
		// An origin that accepts and never answers would hold the client
		// forever, where a tunnel to it is cut at the idle timeout: wait
		// for the response head as long as a tunnel may idle (0: ever).
		c.ResponseTimeout = idle
	}
}
