package config

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Reverse is one [[reverse]] listener: clients reach it as if ferry were
// the service, and each connection goes to a route's backend pool.
type Reverse struct {
	Name              string         `toml:"name"`                // for logs; default "reverse<i>"
	Address           string         `toml:"address"`             // host:port; required
	Mode              string         `toml:"mode"`                // tcp | tls; required
	HandshakeTimeout  time.Duration  `toml:"handshake_timeout"`   // default limits.handshake_timeout
	MaxConns          *int           `toml:"max_conns"`           // default 10000; 0 unlimited
	MaxConnsPerIP     *int           `toml:"max_conns_per_ip"`    // default 1024; 0 unlimited
	Allow             []string       `toml:"allow"`               // source CIDRs; empty admits all
	Deny              []string       `toml:"deny"`                // source CIDRs; wins over allow
	ProxyProtocolFrom []string       `toml:"proxy_protocol_from"` // peers that must send a PROXY header; default none
	Routes            []ReverseRoute `toml:"route"`
}

// ReverseRoute is one [[reverse.route]].
type ReverseRoute struct {
	Name              string           `toml:"name"`                // default "route<j>"
	ServerNames       []string         `toml:"server_names"`        // tls listeners: exact or *.suffix
	Default           bool             `toml:"default"`             // takes unmatched or missing SNI
	TLS               string           `toml:"tls"`                 // passthrough | terminate; default passthrough
	Certificates      []ReverseCert    `toml:"certificates"`        // terminate
	ALPN              []string         `toml:"alpn"`                // terminate; default none
	BackendTLS        bool             `toml:"backend_tls"`         // terminate: re-encrypt; default false
	BackendCA         string           `toml:"backend_ca"`          // default: system roots
	BackendServerName string           `toml:"backend_server_name"` // default: the backend's host
	Policy            string           `toml:"policy"`              // default round_robin
	ProxyProtocol     int              `toml:"proxy_protocol"`      // 0, 1 or 2; default 0
	Retries           *int             `toml:"retries"`             // default 2
	Allow             []string         `toml:"allow"`
	Deny              []string         `toml:"deny"`
	Backends          []ReverseBackend `toml:"backends"`
	Health            ReverseHealth    `toml:"health"`
}

// ReverseCert is a PEM certificate chain and key.
type ReverseCert struct {
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

// ReverseBackend is one pool member.
type ReverseBackend struct {
	Address string `toml:"address"` // host:port
	Weight  *int   `toml:"weight"`  // default 1; an explicit 0 is refused (not "drained")
}

// ReverseHealth is a route's health checking.
type ReverseHealth struct {
	Check       string        `toml:"check"`        // tcp | tls | none; default tcp
	Interval    time.Duration `toml:"interval"`     // default 5s
	Timeout     time.Duration `toml:"timeout"`      // default 2s
	Rise        *int          `toml:"rise"`         // default 2
	Fall        *int          `toml:"fall"`         // default 3
	FailTimeout time.Duration `toml:"fail_timeout"` // check none: default 10s
}

// Reverse defaults.
const (
	DefaultReverseMaxConns      = 10000
	DefaultReverseMaxConnsPerIP = 1024
	DefaultReverseRetries       = 2
)

// ParsePrefix reads a CIDR or a bare address (a /32 or /128).
func ParsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad CIDR or address %q", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func (f *File) validateReverse() []problem {
	var ps []problem
	add := func(key, format string, args ...any) {
		ps = append(ps, problem{key, fmt.Sprintf(format, args...)})
	}
	cidrs := func(key string, list []string) {
		for i, s := range list {
			if _, err := ParsePrefix(s); err != nil {
				add(fmt.Sprintf("%s[%d]", key, i), "%v", err)
			}
		}
	}
	front := map[string]bool{}
	for _, l := range f.Listeners {
		front[l.Address] = true
	}
	names, addrs := map[string]bool{}, map[string]bool{}
	for i := range f.Reverse {
		l := &f.Reverse[i]
		key := fmt.Sprintf("reverse[%d]", i)
		if l.Name == "" {
			l.Name = fmt.Sprintf("reverse%d", i)
		}
		if names[l.Name] {
			add(key+".name", "duplicate reverse listener name %q", l.Name)
		}
		names[l.Name] = true
		if l.Address == "" {
			add(key+".address", "required: the host:port clients connect to")
		} else if err := checkHostPort(l.Address); err != nil {
			add(key+".address", "%v", err)
		} else if (addrs[l.Address] || front[l.Address]) && !strings.HasSuffix(l.Address, ":0") {
			add(key+".address", "%s is already used by another listener", l.Address)
		}
		addrs[l.Address] = true // ":0" may repeat: each bind gets its own port
		switch l.Mode {
		case "tcp", "tls":
		default:
			add(key+".mode", "must be tcp or tls, not %q", l.Mode)
		}
		if l.HandshakeTimeout < 0 {
			add(key+".handshake_timeout", "must not be negative")
		}
		if l.HandshakeTimeout == 0 {
			l.HandshakeTimeout = f.Limits.HandshakeTimeout
		}
		l.MaxConns = intDefault(l.MaxConns, DefaultReverseMaxConns)
		if *l.MaxConns < 0 {
			add(key+".max_conns", "must not be negative")
		}
		l.MaxConnsPerIP = intDefault(l.MaxConnsPerIP, DefaultReverseMaxConnsPerIP)
		if *l.MaxConnsPerIP < 0 {
			add(key+".max_conns_per_ip", "must not be negative")
		}
		cidrs(key+".allow", l.Allow)
		cidrs(key+".deny", l.Deny)
		cidrs(key+".proxy_protocol_from", l.ProxyProtocolFrom)
		ps = append(ps, l.validateRoutes(key)...)
	}
	return ps
}

func (l *Reverse) validateRoutes(key string) []problem {
	var ps []problem
	add := func(key, format string, args ...any) {
		ps = append(ps, problem{key, fmt.Sprintf(format, args...)})
	}
	switch {
	case len(l.Routes) == 0:
		add(key, "needs a [[reverse.route]]")
	case l.Mode == "tcp" && len(l.Routes) > 1:
		add(key, "a tcp listener has exactly one route, not %d", len(l.Routes))
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
			add(rk+".name", "duplicate route name %q", r.Name)
		}
		names[r.Name] = true
		if l.Mode == "tcp" && len(r.ServerNames) > 0 {
			add(rk+".server_names", "a tcp listener does not read server names")
		}
		if r.Default {
			defaults++
			if defaults > 1 {
				add(rk+".default", "only one route may be the default")
			}
		}
		if l.Mode == "tls" && len(r.ServerNames) == 0 && !r.Default {
			add(rk, "needs server_names or default = true")
		}
		for k, n := range r.ServerNames {
			n = strings.TrimSuffix(strings.ToLower(n), ".")
			nk := fmt.Sprintf("%s.server_names[%d]", rk, k)
			if !validServerName(n) {
				add(nk, "%q is not a host name or *.suffix wildcard", r.ServerNames[k])
			} else if sni[n] {
				add(nk, "%q is already routed by this listener", n)
			}
			sni[n] = true
		}
		ps = append(ps, r.validate(rk)...)
	}
	return ps
}

func (r *ReverseRoute) validate(rk string) []problem {
	var ps []problem
	add := func(key, format string, args ...any) {
		ps = append(ps, problem{key, fmt.Sprintf(format, args...)})
	}
	if r.TLS == "" {
		r.TLS = "passthrough"
	}
	switch r.TLS {
	case "passthrough":
		if len(r.Certificates) > 0 || len(r.ALPN) > 0 || r.BackendTLS {
			add(rk+".tls", "certificates, alpn and backend_tls need tls = \"terminate\"")
		}
	case "terminate":
		if len(r.Certificates) == 0 {
			add(rk+".certificates", "tls = \"terminate\" needs at least one { cert, key }")
		}
		for k, c := range r.Certificates {
			if _, err := tls.LoadX509KeyPair(c.Cert, c.Key); err != nil {
				add(fmt.Sprintf("%s.certificates[%d]", rk, k), "%v", err)
			}
		}
	default:
		add(rk+".tls", "must be passthrough or terminate, not %q", r.TLS)
	}
	if r.BackendCA != "" {
		if _, err := os.Stat(r.BackendCA); err != nil {
			add(rk+".backend_ca", "%v", err)
		}
	}
	if r.Policy == "" {
		r.Policy = "round_robin"
	}
	switch r.Policy {
	case "round_robin", "least_conn", "source_hash", "p2c":
	default:
		add(rk+".policy", "must be round_robin, least_conn, source_hash or p2c, not %q", r.Policy)
	}
	if r.ProxyProtocol < 0 || r.ProxyProtocol > 2 {
		add(rk+".proxy_protocol", "must be 0 (off), 1 or 2, not %d", r.ProxyProtocol)
	}
	r.Retries = intDefault(r.Retries, DefaultReverseRetries)
	if *r.Retries < 0 || *r.Retries > 16 {
		add(rk+".retries", "must be between 0 and 16, not %d", *r.Retries)
	}
	for _, c := range []struct {
		key  string
		list []string
	}{{rk + ".allow", r.Allow}, {rk + ".deny", r.Deny}} {
		for i, s := range c.list {
			if _, err := ParsePrefix(s); err != nil {
				add(fmt.Sprintf("%s[%d]", c.key, i), "%v", err)
			}
		}
	}
	if len(r.Backends) == 0 {
		add(rk+".backends", "needs at least one { address = \"host:port\" }")
	}
	for k := range r.Backends {
		b := &r.Backends[k]
		bk := fmt.Sprintf("%s.backends[%d]", rk, k)
		if err := checkHostPort(b.Address); err != nil || strings.HasSuffix(b.Address, ":0") || strings.HasPrefix(b.Address, ":") {
			add(bk+".address", "want host:port with a host and a non-zero port, not %q", b.Address)
		}
		b.Weight = intDefault(b.Weight, 1)
		if *b.Weight < 1 || *b.Weight > 1000 {
			// Other proxies read 0 as "drained"; here it was silently 1.
			add(bk+".weight", "must be between 1 and 1000, not %d (remove a backend to take it out of the pool)", *b.Weight)
		}
	}
	ps = append(ps, r.Health.validate(rk+".health")...)
	return ps
}

func (h *ReverseHealth) validate(hk string) []problem {
	var ps []problem
	add := func(key, format string, args ...any) {
		ps = append(ps, problem{key, fmt.Sprintf(format, args...)})
	}
	if h.Check == "" {
		h.Check = "tcp"
	}
	switch h.Check {
	case "tcp", "tls", "none":
	default:
		add(hk+".check", "must be tcp, tls or none, not %q", h.Check)
	}
	for _, d := range []struct {
		key string
		v   *time.Duration
		def time.Duration
	}{
		{hk + ".interval", &h.Interval, 5 * time.Second},
		{hk + ".timeout", &h.Timeout, 2 * time.Second},
		{hk + ".fail_timeout", &h.FailTimeout, 10 * time.Second},
	} {
		if *d.v < 0 {
			add(d.key, "must not be negative")
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	for _, n := range []struct {
		key string
		v   **int
		def int
	}{{hk + ".rise", &h.Rise, 2}, {hk + ".fall", &h.Fall, 3}} {
		*n.v = intDefault(*n.v, n.def)
		if v := **n.v; v < 1 || v > 100 {
			add(n.key, "must be between 1 and 100, not %d", v)
		}
	}
	return ps
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

// intDefault returns p, or a pointer to def when the key was not set.
func intDefault(p *int, def int) *int {
	if p == nil {
		return &def
	}
	return p
}
