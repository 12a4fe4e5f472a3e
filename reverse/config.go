package reverse

import (
	"net/netip"
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

// Config is every reverse listener; internal/config builds it from the
// [[reverse]] tables.
type Config struct {
	Listeners []ListenerConfig
}

// ListenerConfig is one [[reverse]] listener.
type ListenerConfig struct {
	Name              string
	Address           string // host:port; the key that keeps a socket open across reloads
	Mode              Mode
	HandshakeTimeout  time.Duration  // PROXY header + ClientHello (+ TLS handshake when terminating); default 10s
	MaxConns          int            // open connections on this listener; 0 is unlimited
	MaxConnsPerIP     int            // open connections from one client address; 0 is unlimited
	Guard             Guard          // source allow/deny
	ProxyProtocolFrom []netip.Prefix // peers that must send a PROXY v1/v2 header; others must not
	Routes            []RouteConfig
}

// RouteConfig is one route of a listener.
type RouteConfig struct {
	Name              string
	ServerNames       []string // exact names and *.suffix wildcards; TLS listeners only
	Default           bool     // takes ClientHellos that match no name, or carry none
	Guard             Guard
	TLS               TLSMode    // default Passthrough
	Certificates      []CertFile // Terminate: chosen by SNI
	ALPN              []string   // Terminate: protocols ferry offers the client
	BackendTLS        bool       // Terminate: speak TLS to the backend again
	BackendCA         string     // PEM file of CAs for backend certificates; "" uses the system roots
	BackendServerName string     // name to verify the backend's certificate against; default the backend's host
	Policy            Policy     // default RoundRobin
	ProxyProtocol     int        // 0 (off), 1 or 2: PROXY header sent to the backend
	Retries           int        // further backends tried after a failed dial; default 0 is none
	Backends          []BackendConfig
	Health            HealthConfig
}

// CertFile names a PEM certificate chain and its key.
type CertFile struct{ Cert, Key string }

// BackendConfig is one pool member.
type BackendConfig struct {
	Address string // host:port
	Weight  int    // default 1
}
