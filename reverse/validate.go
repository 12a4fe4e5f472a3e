package reverse

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/ferry-proxy/ferry/internal/proxyhdr"
)

// Validate reports each bad field of c to report, by its key
// (reverse[0].route[1].policy), and fills the names left out. Listener
// addresses are the caller's to check: they may clash with other
// listeners.
func (c *Config) Validate(report func(key, msg string)) {
	names := map[string]bool{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		key := fmt.Sprintf("reverse[%d]", i)
		if l.Name == "" {
			l.Name = fmt.Sprintf("reverse%d", i)
		}
		if names[l.Name] {
			reportf(report, key+".name", "duplicate reverse listener name %q", l.Name)
		}
		names[l.Name] = true
		l.validate(key, report)
	}
}

func (l *ListenerConfig) validate(key string, report func(key, msg string)) {
	switch l.Mode {
	case ModeTCP, ModeTLS:
	default:
		reportf(report, key+".mode", "must be tcp or tls, not %q", l.Mode)
	}
	if l.HandshakeTimeout < 0 {
		report(key+".handshake_timeout", "must not be negative")
	}
	if l.MaxConns < 0 {
		report(key+".max_conns", "must not be negative")
	}
	if l.MaxConnsPerIP < 0 {
		report(key+".max_conns_per_ip", "must not be negative")
	}
	cidrs(key+".allow", l.Allow, report)
	cidrs(key+".deny", l.Deny, report)
	cidrs(key+".proxy_protocol_from", l.ProxyProtocolFrom, report)
	switch {
	case len(l.Routes) == 0:
		report(key, "needs a [[reverse.route]]")
	case l.Mode == ModeTCP && len(l.Routes) > 1:
		reportf(report, key, "a tcp listener has exactly one route, not %d", len(l.Routes))
	}
	names, sni := map[string]bool{}, map[string]bool{}
	defaults := 0
	for j := range l.Routes {
		r := &l.Routes[j]
		rk := fmt.Sprintf("%s.route[%d]", key, j)
		if r.Name == "" {
			r.Name = fmt.Sprintf("route%d", j)
		}
		if names[r.Name] {
			reportf(report, rk+".name", "duplicate route name %q", r.Name)
		}
		names[r.Name] = true
		if l.Mode == ModeTCP && len(r.ServerNames) > 0 {
			report(rk+".server_names", "a tcp listener does not read server names")
		}
		if r.Default {
			defaults++
			if defaults > 1 {
				report(rk+".default", "only one route may be the default")
			}
		}
		if l.Mode == ModeTLS && len(r.ServerNames) == 0 && !r.Default {
			report(rk, "needs server_names or default = true")
		}
		for k, n := range r.ServerNames {
			n = strings.TrimSuffix(strings.ToLower(n), ".")
			nk := fmt.Sprintf("%s.server_names[%d]", rk, k)
			if !validServerName(n) {
				reportf(report, nk, "%q is not a host name or *.suffix wildcard", r.ServerNames[k])
			} else if sni[n] {
				reportf(report, nk, "%q is already routed by this listener", n)
			}
			sni[n] = true
		}
		r.validate(rk, report)
	}
}

func (r *RouteConfig) validate(rk string, report func(key, msg string)) {
	if r.TLS == "" {
		r.TLS = defaultTLS
	}
	if r.Policy == "" {
		r.Policy = defaultPolicy
	}
	switch r.TLS {
	case Passthrough:
		if len(r.Certificates) > 0 || len(r.ALPN) > 0 || r.BackendTLS {
			report(rk+".tls", "certificates, alpn and backend_tls need tls = \"terminate\"")
		}
	case Terminate:
		if len(r.Certificates) == 0 {
			report(rk+".certificates", "tls = \"terminate\" needs at least one { cert, key }")
		}
		for k, c := range r.Certificates {
			if _, err := tls.LoadX509KeyPair(c.Cert, c.Key); err != nil {
				report(fmt.Sprintf("%s.certificates[%d]", rk, k), err.Error())
			}
		}
	default:
		reportf(report, rk+".tls", "must be passthrough or terminate, not %q", r.TLS)
	}
	if r.BackendCA != "" {
		if _, err := os.Stat(r.BackendCA); err != nil {
			report(rk+".backend_ca", err.Error())
		}
	}
	switch r.Policy {
	case RoundRobin, LeastConn, SourceHash, P2C:
	default:
		reportf(report, rk+".policy", "must be round_robin, least_conn, source_hash or p2c, not %q", r.Policy)
	}
	if r.ProxyProtocol < 0 || r.ProxyProtocol > 2 {
		reportf(report, rk+".proxy_protocol", "must be 0 (off), 1 or 2, not %d", r.ProxyProtocol)
	}
	if r.Retries < 0 || r.Retries > maxRetries {
		reportf(report, rk+".retries", "must be between 0 and %d, not %d", maxRetries, r.Retries)
	}
	cidrs(rk+".allow", r.Allow, report)
	cidrs(rk+".deny", r.Deny, report)
	if len(r.Backends) == 0 {
		report(rk+".backends", "needs at least one { address = \"host:port\" }")
	}
	for k, b := range r.Backends {
		bk := fmt.Sprintf("%s.backends[%d]", rk, k)
		if !validBackend(b.Address) {
			reportf(report, bk+".address", "want host:port with a host and a non-zero port, not %q", b.Address)
		}
		if b.Weight < 1 || b.Weight > maxWeight {
			// Other proxies read 0 as "drained"; here it was silently 1.
			reportf(report, bk+".weight", "must be between 1 and %d, not %d (remove a backend to take it out of the pool)", maxWeight, b.Weight)
		}
	}
	r.Health.validate(rk+".health", report)
}

func (h *HealthConfig) validate(hk string, report func(key, msg string)) {
	if h.Check == "" {
		h.Check = defaultCheck
	}
	switch h.Check {
	case CheckTCP, CheckTLS, CheckNone:
	default:
		reportf(report, hk+".check", "must be tcp, tls or none, not %q", h.Check)
	}
	for _, d := range []struct {
		key string
		neg bool
	}{{"interval", h.Interval < 0}, {"timeout", h.Timeout < 0}, {"fail_timeout", h.FailTimeout < 0}} {
		if d.neg {
			report(hk+"."+d.key, "must not be negative")
		}
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"rise", h.Rise}, {"fall", h.Fall}} {
		if n.v < 1 || n.v > 100 {
			reportf(report, hk+"."+n.key, "must be between 1 and 100, not %d", n.v)
		}
	}
	// "0s" means the default, as in a literal Config.
	rise, fall := h.Rise, h.Fall
	h.setDefaults()
	h.Rise, h.Fall = rise, fall
}

// ParsePrefix reads a CIDR or a bare address (a /32 or /128). Host bits are
// masked, not refused.
func ParsePrefix(s string) (netip.Prefix, error) { return proxyhdr.ParsePrefix(s) }

// ParsePrefixes reads a list with ParsePrefix.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	ps := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func newGuard(allow, deny []string) (Guard, error) {
	var g Guard
	var err error
	if g.Allow, err = ParsePrefixes(allow); err != nil {
		return g, fmt.Errorf("allow: %w", err)
	}
	if g.Deny, err = ParsePrefixes(deny); err != nil {
		return g, fmt.Errorf("deny: %w", err)
	}
	return g, nil
}

func cidrs(key string, list []string, report func(key, msg string)) {
	for i, s := range list {
		if _, err := ParsePrefix(s); err != nil {
			report(fmt.Sprintf("%s[%d]", key, i), err.Error())
		}
	}
}

// validBackend accepts host:port with a host and a port from 1 to 65535.
func validBackend(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || strings.ContainsAny(host, " /\\") {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n <= 65535
}

// validServerName accepts a host name or a "*." wildcard over one.
func validServerName(n string) bool {
	n = strings.TrimPrefix(n, "*.")
	if n == "" || len(n) > 253 || strings.Contains(n, "*") {
		return false
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// reportf is report with a format.
func reportf(report func(key, msg string), key, format string, args ...any) {
	report(key, fmt.Sprintf(format, args...))
}
