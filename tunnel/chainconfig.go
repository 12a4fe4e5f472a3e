package tunnel

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/ferry-proxy/ferry/internal/tlsfile"

	"github.com/ferry-proxy/ferry/acl"
)

// Chain is chaining's part of the config file, at its top level:
// [[upstream]], [[upstream_group]], [[route]] and [routing].
type Chain struct {
	Upstreams []UpstreamConfig `toml:"upstream"`
	Groups    []GroupSpec      `toml:"upstream_group"`
	Routes    []RouteConfig    `toml:"route"`
	Routing   RoutingConfig    `toml:"routing"`
}

// UpstreamConfig is one [[upstream]]: a parent proxy requests can be
// routed to. Compile turns it into an UpstreamSpec.
type UpstreamConfig struct {
	Name       string     `toml:"name"`        // required; routes, groups and via name it
	URL        string     `toml:"url"`         // http, https, socks5 or socks5h://[user:password@]host:port; required
	CAFile     string     `toml:"ca_file"`     // https: PEM roots its certificate must chain to; default the system's
	ServerName string     `toml:"server_name"` // https: name its certificate must carry; default the url's host
	Cert       string     `toml:"cert"`        // https: PEM client certificate for mutual TLS; default none
	Key        string     `toml:"key"`         // its key, with cert
	Via        string     `toml:"via"`         // the upstream this one is reached through; default "": directly
	Health     HealthSpec `toml:"health"`
	// HTTP2: an https upstream's tunnels are streams on HTTP/2
	// connections when it offers h2 by ALPN; default true.
	HTTP2 bool `toml:"http2"`
	// HTTP2Conns is how many HTTP/2 connections its tunnels are spread
	// over (more are opened only when these are full); default 1.
	HTTP2Conns int `toml:"http2_conns"`
}

// Defaults of UpstreamConfig.
const DefaultHTTP2Conns = 1

// SetDefaults sets the fields that are not zero by default; Health has
// its own.
func (u *UpstreamConfig) SetDefaults() {
	u.HTTP2, u.HTTP2Conns = true, DefaultHTTP2Conns
}

// RouteConfig is one [[route]]: requests its matchers hold for go to
// Upstream. The matchers are the ACL's, with not. for exceptions.
type RouteConfig struct {
	Name     string `toml:"name"`     // for the access log; default "route<i>"
	Upstream string `toml:"upstream"` // direct, env, an upstream's or a group's name; required
	acl.Match
	Not *acl.Match `toml:"not"`
}

// RoutingConfig is the [routing] table.
type RoutingConfig struct {
	Default string `toml:"default"` // where requests no route matches go; default direct
}

// SetDefaults sets every field to its default.
func (r *RoutingConfig) SetDefaults() { r.Default = ToDirect }

// Compile checks c and builds the spec NewRoutes takes: files are read
// relative to dir, route matchers compiled once with env and timezone
// (the ACL's). Every problem goes to report by key; the spec is then nil.
// It is nil too when c routes everything direct, as without chaining.
func (c *Chain) Compile(dir string, env acl.Env, timezone string, report func(key, msg string)) *RoutingSpec {
	bad := false
	report0 := report
	report = func(key, msg string) { bad = true; report0(key, msg) }
	spec := &RoutingSpec{Default: c.Routing.Default}
	targets := map[string]string{ToDirect: "reserved", ToEnv: "reserved"}
	for i := range c.Upstreams {
		key := fmt.Sprintf("upstream[%d]", i)
		u := &c.Upstreams[i]
		switch {
		case !validName(u.Name):
			reportf(report, key+".name", "want a name of letters, digits, - _ . (it is logged and sent in Proxy-Status), not %q", u.Name)
		case targets[u.Name] != "":
			reportf(report, key+".name", "%q is already used (or reserved: direct, env)", u.Name)
		default:
			targets[u.Name] = "upstream"
		}
		if s, ok := u.compile(dir, under(key, report)); ok {
			spec.Upstreams = append(spec.Upstreams, s)
		}
	}
	c.checkVia(report)
	for i := range c.Groups {
		c.checkGroup(i, targets, report)
		spec.Groups = append(spec.Groups, c.Groups[i])
	}
	target := func(key, to string) {
		if to == "" {
			report(key, "required: direct, env, or the name of an [[upstream]] or [[upstream_group]]")
		} else if targets[to] == "" {
			reportf(report, key, "%q is not direct, env, an [[upstream]] or an [[upstream_group]]", to)
		}
	}
	names := map[string]bool{defaultRouteName: true, directRouteNoRule: true}
	for i := range c.Routes {
		r := &c.Routes[i]
		key := fmt.Sprintf("route[%d]", i)
		if r.Name == "" {
			r.Name = fmt.Sprintf("route%d", i)
		}
		if names[r.Name] {
			reportf(report, key+".name", "route name %q used twice (or reserved: default, direct)", r.Name)
		}
		names[r.Name] = true
		target(key+".upstream", r.Upstream)
		m, err := acl.CompileMatch(r.Match, r.Not, timezone, env)
		var es acl.Errors
		if errors.As(err, &es) {
			for _, e := range es {
				report(key+"."+e.Key, e.Msg)
			}
		}
		spec.Routes = append(spec.Routes, RouteSpec{Name: r.Name, Match: m, To: r.Upstream})
	}
	if c.Routing.Default == "" {
		c.Routing.Default = ToDirect
	}
	target("routing.default", c.Routing.Default)
	if bad || len(c.Upstreams) == 0 && len(c.Routes) == 0 && c.Routing.Default == ToDirect {
		return nil
	}
	spec.Default = c.Routing.Default
	return spec
}

// compile checks one upstream and builds its spec, reading its TLS files.
func (u *UpstreamConfig) compile(dir string, report func(key, msg string)) (UpstreamSpec, bool) {
	ok := true
	report0 := report
	report = func(key, msg string) { ok = false; report0(key, msg) }
	s := UpstreamSpec{Name: u.Name, Via: u.Via}
	pu, err := checkUpstreamURL(u.URL)
	if err != nil {
		report("url", err.Error())
	}
	s.URL = pu
	if pu != nil && pu.Scheme != schemeHTTPS {
		for _, f := range []struct{ key, v string }{{"ca_file", u.CAFile}, {"server_name", u.ServerName}, {"cert", u.Cert}, {"key", u.Key}} {
			if f.v != "" {
				report(f.key, "only an https:// upstream speaks TLS")
			}
		}
	}
	c := &tls.Config{ServerName: u.ServerName, MinVersion: tls.VersionTLS12}
	if u.CAFile != "" {
		if c.RootCAs, err = tlsfile.CertPool(tlsfile.Resolve(dir, u.CAFile)); err != nil {
			report("ca_file", err.Error())
		}
	}
	if (u.Cert == "") != (u.Key == "") {
		report("cert", "cert and key go together")
	} else if u.Cert != "" {
		pair, err := tlsfile.KeyPair(dir, u.Cert, u.Key)
		if err != nil {
			report("cert", err.Error())
		}
		c.Certificates = []tls.Certificate{pair}
	}
	if pu != nil && pu.Scheme == schemeHTTPS {
		s.TLS = c
	}
	u.Health.validate(under("health", report))
	s.Health = u.Health
	if u.HTTP2Conns < 1 || u.HTTP2Conns > 64 {
		reportf(report, "http2_conns", "must be between 1 and 64, not %d", u.HTTP2Conns)
	}
	s.HTTP2, s.H2Conns = u.HTTP2, u.HTTP2Conns
	return s, ok
}

// checkVia follows each upstream's via chain: a loop would dial for ever.
func (c *Chain) checkVia(report func(key, msg string)) {
	ups := map[string]*UpstreamConfig{}
	for i := range c.Upstreams {
		ups[c.Upstreams[i].Name] = &c.Upstreams[i]
	}
	for i, u := range c.Upstreams {
		if u.Via == "" {
			continue
		}
		key := fmt.Sprintf("upstream[%d].via", i)
		if ups[u.Via] == nil {
			reportf(report, key, "no [[upstream]] named %q", u.Via)
			continue
		}
		path := []string{u.Name}
		for v := ups[u.Via]; v != nil; v = ups[v.Via] {
			path = append(path, v.Name)
			if v.Name == u.Name {
				reportf(report, key, "the via chain loops: %s", strings.Join(path, " → "))
				break
			}
			if len(path) > len(c.Upstreams)+1 {
				break // a loop further on, reported at its own upstream
			}
		}
	}
}

func (c *Chain) checkGroup(i int, targets map[string]string, report func(key, msg string)) {
	g := &c.Groups[i]
	key := fmt.Sprintf("upstream_group[%d]", i)
	switch {
	case !validName(g.Name):
		reportf(report, key+".name", "want a name of letters, digits, - _ ., not %q", g.Name)
	case targets[g.Name] != "":
		reportf(report, key+".name", "%q is already used by an upstream or group (or reserved: direct, env)", g.Name)
	default:
		targets[g.Name] = "group"
	}
	if len(g.Members) == 0 {
		report(key+".members", "a group needs at least one upstream")
	}
	seen := map[string]bool{}
	for j, m := range g.Members {
		mk := fmt.Sprintf("%s.members[%d]", key, j)
		if targets[m] != "upstream" {
			reportf(report, mk, "no [[upstream]] named %q", m)
		}
		if seen[m] {
			reportf(report, mk, "%q is listed twice", m)
		}
		seen[m] = true
	}
	if g.Policy == "" {
		g.Policy = PolicyFailover
	}
	switch g.Policy {
	case PolicyFailover, PolicyRoundRobin, PolicyLeastConns:
	default:
		reportf(report, key+".policy", "must be %s, %s or %s, not %q", PolicyFailover, PolicyRoundRobin, PolicyLeastConns, g.Policy)
	}
}

// checkUpstreamURL parses an upstream url: a known scheme, a host and an
// explicit port, nothing else.
func checkUpstreamURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, fmt.Errorf("required: http, https, socks5 or socks5h://[user:password@]host:port")
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error quotes the url, password and all: not in a log.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("bad url: %v", err)
	}
	switch u.Scheme {
	case schemeHTTP, schemeHTTPS, schemeSOCKS5, schemeSOCKS5H:
	default:
		return nil, fmt.Errorf("scheme %q: want http, https, socks5 or socks5h", u.Scheme)
	}
	if err := checkTarget(u.Host); err != nil {
		return nil, fmt.Errorf("want %s://host:port with the port written out: %v", u.Scheme, err)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("an upstream url has no path, query or fragment")
	}
	return u, nil
}

// checkTarget accepts host:port with a host and a port from 1 to 65535.
func checkTarget(hostport string) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || host == "" {
		return fmt.Errorf("%q is not host:port", hostport)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("bad port in %q", hostport)
	}
	return nil
}

// validName accepts what can be logged and quoted without escaping.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
