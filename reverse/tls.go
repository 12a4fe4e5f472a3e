package reverse

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/ferry-proxy/ferry/internal/tlsfile"
)

// alertUnrecognizedName is a fatal unrecognized_name alert (RFC 6066 §3,
// RFC 8446 §6.2: AlertLevel fatal=2, AlertDescription 112) in a TLS 1.2
// record, which every TLS version's client reads before it has keys.
var alertUnrecognizedName = []byte{recordTypeAlert, 3, 3, 0, 2, 2, 112}

// serverTLS is the tls.Config a terminating route presents: the route's
// certificate for the client's server name, chosen by GetCertificate.
func serverTLS(rc *RouteConfig) (*tls.Config, error) {
	certs := make([]tls.Certificate, 0, len(rc.Certificates))
	for _, f := range rc.Certificates {
		c, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("route %q: certificate %s: %w", rc.Name, f.Cert, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("route %q: terminate needs a certificate", rc.Name)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: rc.ALPN,
		GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			for i := range certs {
				if h.SupportsCertificate(&certs[i]) == nil {
					return &certs[i], nil
				}
			}
			return &certs[0], nil // no better choice: the client decides
		},
	}, nil
}

// backendTLS is the base tls.Config for TLS towards backends (re-encrypt
// and tls health checks); ServerName is filled per backend when unset.
func backendTLS(rc *RouteConfig) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: rc.BackendServerName}
	if rc.BackendCA != "" {
		pool, err := tlsfile.CertPool(rc.BackendCA)
		if err != nil {
			return nil, fmt.Errorf("route %q: backend_ca: %w", rc.Name, err)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// forBackend returns cfg with ServerName set for addr when cfg leaves it
// empty, and with the ALPN protocol the client negotiated, if any.
func forBackend(cfg *tls.Config, addr, alpn string) *tls.Config {
	if cfg.ServerName != "" && alpn == "" {
		return cfg
	}
	c := cfg.Clone()
	if c.ServerName == "" {
		c.ServerName = hostOf(addr)
	}
	if alpn != "" {
		c.NextProtos = []string{alpn}
	}
	return c
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// writeAlert sends a fatal alert without waiting long for a client that
// does not read.
func writeAlert(c net.Conn, alert []byte) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	c.Write(alert)
}
