package reverse

import (
	"crypto/tls"
	"time"
)

// Mode is what a listener speaks.
type Mode string

// Listener modes.
const (
	ModeTCP Mode = "tcp" // every connection goes to the listener's one route
	ModeTLS Mode = "tls" // routed by the ClientHello's server name
)

// TLSMode is what a route does with TLS.
type TLSMode string

// Route TLS modes.
const (
	Passthrough TLSMode = "passthrough" // bytes reach the backend untouched; the client verifies the backend
	Terminate   TLSMode = "terminate"   // ferry presents the route's certificate
)

// Config is every reverse listener: the [[reverse]] tables, at the top
// level of the config file.
type Config struct {
	Listeners []ListenerConfig `toml:"reverse"`
}

// ListenerConfig is one [[reverse]] listener: clients reach it as if
// ferry were the service, and each connection goes to a route's pool.
type ListenerConfig struct {
	Name    string `toml:"name"`    // for logs; default "reverse<i>"
	Address string `toml:"address"` // host:port; required; the key that keeps a socket open across reloads
	Mode    Mode   `toml:"mode"`    // tcp or tls; required
	// HandshakeTimeout bounds the PROXY header and ClientHello (and the TLS
	// handshake when terminating); default limits.handshake_timeout.
	HandshakeTimeout  time.Duration `toml:"handshake_timeout"`
	MaxConns          int           `toml:"max_conns"`           // open connections on this listener; default 10000; 0 unlimited
	MaxConnsPerIP     int           `toml:"max_conns_per_ip"`    // open connections from one client address; default 1024; 0 unlimited
	Allow             []string      `toml:"allow"`               // source CIDRs or addresses; empty admits all
	Deny              []string      `toml:"deny"`                // source CIDRs or addresses; wins over allow
	ProxyProtocolFrom []string      `toml:"proxy_protocol_from"` // peers that must send a PROXY v1/v2 header; others must not; default none
	Routes            []RouteConfig `toml:"route"`
}

// RouteConfig is one [[reverse.route]].
type RouteConfig struct {
	Name              string          `toml:"name"`                // default "route<j>"
	ServerNames       []string        `toml:"server_names"`        // exact names and *.suffix wildcards; TLS listeners only
	Default           bool            `toml:"default"`             // takes ClientHellos that match no name, or carry none
	TLS               TLSMode         `toml:"tls"`                 // default Passthrough
	Certificates      []CertFile      `toml:"certificates"`        // Terminate: chosen by SNI
	ALPN              []string        `toml:"alpn"`                // Terminate: protocols ferry offers the client; default none
	BackendTLS        bool            `toml:"backend_tls"`         // Terminate: speak TLS to the backend again; default false
	BackendCA         string          `toml:"backend_ca"`          // PEM file of CAs for backend certificates; "" uses the system roots
	BackendServerName string          `toml:"backend_server_name"` // name to verify the backend's certificate against; default the backend's host
	Policy            Policy          `toml:"policy"`              // default RoundRobin
	ProxyProtocol     int             `toml:"proxy_protocol"`      // 0 (off), 1 or 2: PROXY header sent to the backend
	Retries           int             `toml:"retries"`             // further backends tried after a failed dial; default 2 (0 in a literal: none)
	Allow             []string        `toml:"allow"`               // source CIDRs for this route, on top of the listener's
	Deny              []string        `toml:"deny"`                // source CIDRs refused by this route
	Backends          []BackendConfig `toml:"backends"`
	Health            HealthConfig    `toml:"health"`
}

// CertFile names a PEM certificate chain and its key.
type CertFile struct {
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

// BackendConfig is one pool member.
type BackendConfig struct {
	Address string `toml:"address"` // host:port
	Weight  int    `toml:"weight"`  // 1-1000; default 1
}

// HealthConfig is a pool's health checking.
type HealthConfig struct {
	Check       string        `toml:"check"`        // tcp, tls or none; default tcp
	Interval    time.Duration `toml:"interval"`     // between active checks; default 5s
	Timeout     time.Duration `toml:"timeout"`      // one check; default 2s
	Rise        int           `toml:"rise"`         // consecutive good checks to come back; default 2
	Fall        int           `toml:"fall"`         // consecutive failed checks to go down; default 3
	FailTimeout time.Duration `toml:"fail_timeout"` // with check none, how long a failed backend is skipped; default 10s
	TLS         *tls.Config   `toml:"-"`            // for tls checks; nil: any certificate (liveness, not trust)
}

// Defaults of the reverse tables. The zero values of a literal Config
// fall back to the health defaults too (HealthConfig.setDefaults).
const (
	DefaultMaxConns       = 10000
	DefaultMaxConnsPerIP  = 1024
	DefaultRetries        = 2
	DefaultWeight         = 1
	DefaultCheckInterval  = 5 * time.Second
	DefaultCheckTimeout   = 2 * time.Second
	DefaultRise           = 2
	DefaultFall           = 3
	DefaultFailTimeout    = 10 * time.Second
	defaultCheck          = CheckTCP
	defaultPolicy         = RoundRobin
	defaultTLS            = Passthrough
	maxRetries, maxWeight = 16, 1000
)

// SetDefaults sets every field to its default.
func (l *ListenerConfig) SetDefaults() {
	*l = ListenerConfig{MaxConns: DefaultMaxConns, MaxConnsPerIP: DefaultMaxConnsPerIP}
}

// SetDefaults sets every field to its default.
func (r *RouteConfig) SetDefaults() {
	*r = RouteConfig{TLS: defaultTLS, Policy: defaultPolicy, Retries: DefaultRetries}
}

// SetDefaults sets every field to its default.
func (b *BackendConfig) SetDefaults() { *b = BackendConfig{Weight: DefaultWeight} }

// SetDefaults sets every field to its default.
func (h *HealthConfig) SetDefaults() {
	*h = HealthConfig{}
	h.setDefaults()
}

// setDefaults fills what is zero.
func (h *HealthConfig) setDefaults() {
	if h.Check == "" {
		h.Check = defaultCheck
	}
	if h.Interval <= 0 {
		h.Interval = DefaultCheckInterval
	}
	if h.Timeout <= 0 {
		h.Timeout = DefaultCheckTimeout
	}
	if h.Rise <= 0 {
		h.Rise = DefaultRise
	}
	if h.Fall <= 0 {
		h.Fall = DefaultFall
	}
	if h.FailTimeout <= 0 {
		h.FailTimeout = DefaultFailTimeout
	}
}
