package front

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/netip"

	"github.com/ferry-proxy/ferry/internal/proxyhdr"
	"github.com/ferry-proxy/ferry/internal/tlsfile"
)

// ListenerConfig is what a [[listener]] says about the front listener:
// where it accepts, what it speaks, and whether inside TLS.
type ListenerConfig struct {
	Name     string       `toml:"name"`     // for logs and metrics; default "listener<i>"
	Address  string       `toml:"address"`  // host:port; default DefaultAddress
	Protocol Protocol     `toml:"protocol"` // auto, http or socks; default auto
	TLS      *ListenerTLS `toml:"tls"`      // speak the proxy protocols inside TLS; default nil: plaintext
	// ProxyProtocolFrom are the balancers (addresses or CIDRs) that must
	// send a PROXY v1/v2 header first, naming the client; other peers
	// must not (their header is not believed). Default none.
	ProxyProtocolFrom []string `toml:"proxy_protocol_from"`
}

// DefaultAddress is where a fresh ferry listens: loopback only, so that
// it is never an open proxy.
const DefaultAddress = "127.0.0.1:8080"

// SetDefaults sets every field to its default.
func (l *ListenerConfig) SetDefaults() { *l = ListenerConfig{Address: DefaultAddress, Protocol: Auto} }

// Validate reports each bad field to report, by its key. Certificate
// files are read relative to dir.
func (l *ListenerConfig) Validate(dir string, report func(key, msg string)) {
	switch l.Protocol {
	case Auto, HTTP, SOCKS:
	default:
		report("protocol", fmt.Sprintf("must be auto, http or socks, not %q", l.Protocol))
	}
	if l.TLS != nil {
		l.TLS.Validate(dir, func(k, msg string) { report("tls."+k, msg) })
	}
	for i, s := range l.ProxyProtocolFrom {
		if _, err := proxyhdr.ParsePrefix(s); err != nil {
			report(fmt.Sprintf("proxy_protocol_from[%d]", i), err.Error())
		}
	}
}

// ProxyFrom is ProxyProtocolFrom parsed, for Mux.ProxyFrom; Validate has
// checked it.
func (l *ListenerConfig) ProxyFrom() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(l.ProxyProtocolFrom))
	for _, s := range l.ProxyProtocolFrom {
		if p, err := proxyhdr.ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Limits are the keys of [limits] the mux applies. (Its handshake
// deadline is the engine's limits.handshake_timeout.)
type Limits struct {
	MaxConns int `toml:"max_conns"` // concurrent connections; more are refused; default 10000; 0 unlimited
}

// DefaultMaxConns is the default of Limits.MaxConns.
const DefaultMaxConns = 10000

// SetDefaults sets every field to its default.
func (l *Limits) SetDefaults() { l.MaxConns = DefaultMaxConns }

// Validate reports each bad field to report, by its key.
func (l *Limits) Validate(report func(key, msg string)) {
	if l.MaxConns < 0 {
		report("max_conns", "must not be negative")
	}
}

// ListenerTLS is a listener's tls = { ... }: the proxy protocols spoken
// inside TLS (an HTTPS proxy).
type ListenerTLS struct {
	Cert     string `toml:"cert"`      // PEM certificate chain; required
	Key      string `toml:"key"`       // its key; required
	ClientCA string `toml:"client_ca"` // PEM CAs; when set, clients must present a certificate one of them signed
	CertUser string `toml:"cert_user"` // none, cn, email or dns: the client certificate's name used as the user; default none
}

// How a client certificate names its user (ListenerTLS.CertUser).
const (
	CertUserNone  = "none"
	CertUserCN    = "cn"
	CertUserEmail = "email"
	CertUserDNS   = "dns"
)

// SetDefaults sets every field to its default.
func (t *ListenerTLS) SetDefaults() { *t = ListenerTLS{CertUser: CertUserNone} }

// NamesUsers reports whether a verified client certificate names the
// connection's user, which then needs no password.
func (t *ListenerTLS) NamesUsers() bool {
	return t != nil && t.ClientCA != "" && t.CertUser != "" && t.CertUser != CertUserNone
}

// Validate reports each bad field to report, by its key, reading the
// files (relative to dir) as ServerConfig will.
func (t *ListenerTLS) Validate(dir string, report func(key, msg string)) {
	if t.Cert == "" || t.Key == "" {
		report("cert", "a TLS listener needs cert and key")
	} else if _, err := tlsfile.KeyPair(dir, t.Cert, t.Key); err != nil {
		report("cert", err.Error())
	}
	if t.ClientCA != "" {
		if _, err := tlsfile.CertPool(tlsfile.Resolve(dir, t.ClientCA)); err != nil {
			report("client_ca", err.Error())
		}
	}
	switch t.CertUser {
	case "", CertUserNone:
		t.CertUser = CertUserNone
	case CertUserCN, CertUserEmail, CertUserDNS:
		if t.ClientCA == "" {
			report("cert_user", "needs client_ca: only a verified certificate names a user")
		}
	default:
		report("cert_user", fmt.Sprintf("must be none, cn, email or dns, not %q", t.CertUser))
	}
}

// ALPN protocol names (RFC 7301) a TLS listener offers.
const (
	ALPNHTTP2 = "h2"       // HTTP/2 (RFC 9113 §3.2)
	ALPNHTTP1 = "http/1.1" // HTTP/1.1
)

// ServerConfig reads the certificate, key and client CAs (relative to
// dir) into a TLS server config for the mux. h2 offers HTTP/2 by ALPN
// before HTTP/1.1: the listener speaks HTTP and HTTP/2 is on. A client
// that asks for neither (a SOCKS client, curl without ALPN) gets no
// protocol and is sniffed as on a plaintext listener.
func (t *ListenerTLS) ServerConfig(dir string, h2 bool) (*tls.Config, error) {
	pair, err := tlsfile.KeyPair(dir, t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	c := &tls.Config{
		Certificates: []tls.Certificate{pair},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{ALPNHTTP1},
	}
	if h2 {
		c.NextProtos = []string{ALPNHTTP2, ALPNHTTP1}
	}
	if t.ClientCA != "" {
		if c.ClientCAs, err = tlsfile.CertPool(tlsfile.Resolve(dir, t.ClientCA)); err != nil {
			return nil, fmt.Errorf("tls.client_ca: %w", err)
		}
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// UserOf is the name a verified client certificate gives its user, by
// CertUser: the subject's common name, or the first e-mail or DNS subject
// alternative name; "" when it has none.
func (t *ListenerTLS) UserOf(c *x509.Certificate) string {
	switch t.CertUser {
	case CertUserCN:
		return c.Subject.CommonName
	case CertUserEmail:
		if len(c.EmailAddresses) > 0 {
			return c.EmailAddresses[0]
		}
	case CertUserDNS:
		if len(c.DNSNames) > 0 {
			return c.DNSNames[0]
		}
	}
	return ""
}
