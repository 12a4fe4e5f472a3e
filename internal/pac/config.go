package pac

import "fmt"

// Config is the [pac] table.
type Config struct {
	// Direct lists destinations the browser reaches without ferry:
	// ".corp.example" (that domain and every name under it),
	// "*.build.example" (a shell pattern, shExpMatch), "10.0.0.0/8" (an
	// IPv4 network, isInNet), "intranet" or "192.0.2.1" (that one host).
	// Default: none.
	Direct []string `toml:"direct"`
	// ProxyAddress is host:port as clients reach ferry. Default: the
	// first listener's bound address; if its host is unspecified
	// (0.0.0.0, ::), the host the client fetched the PAC from.
	ProxyAddress string `toml:"proxy_address"`
	// PlainHostsDirect sends dotless names (isPlainHostName) DIRECT.
	// Default true: such names only mean something on the client's own
	// network. (nil, in a literal Config, is the default.)
	PlainHostsDirect *bool `toml:"plain_hosts_direct"`
	// ResolveNames lets network entries match names by resolving them in
	// the browser (dnsResolve). Default false: a network matches only IP
	// literals, so the browser does not block on DNS for every URL.
	ResolveNames bool `toml:"resolve_names"`
}

// DefaultPlainHostsDirect is the default of Config.PlainHostsDirect.
const DefaultPlainHostsDirect = true

// SetDefaults sets every field to its default.
func (c *Config) SetDefaults() {
	plain := DefaultPlainHostsDirect
	*c = Config{Direct: []string{}, PlainHostsDirect: &plain}
}

// Validate reports each bad field to report, by its key.
func (c *Config) Validate(report func(key, msg string)) {
	_, errs := ParseDirect(c.Direct)
	for _, e := range errs {
		report(fmt.Sprintf("direct[%d]", e.Index), e.Err.Error())
	}
	if a := c.ProxyAddress; a != "" {
		if err := CheckProxyAddress(a); err != nil {
			report("proxy_address", err.Error())
		}
	}
}
