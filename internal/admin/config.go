package admin

// Config is the [admin] table. The listener is off unless Address is set.
// Its address is checked with the proxy listeners' (internal/config): it
// must be loopback unless AllowNonLoopback, and never a proxy port.
type Config struct {
	Address          string `toml:"address"`            // host:port; default "": off
	AllowNonLoopback bool   `toml:"allow_non_loopback"` // default false: a non-loopback address is refused
	Pprof            bool   `toml:"pprof"`              // /debug/pprof/; default true
}

// SetDefaults sets every field to its default.
func (c *Config) SetDefaults() { *c = Config{Pprof: true} }
