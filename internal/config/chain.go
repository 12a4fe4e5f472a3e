package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/acl"
)

// Upstream is one [[upstream]]: a parent proxy requests can be routed to.
type Upstream struct {
	Name       string         `toml:"name"`        // required; routes, groups and via name it
	URL        string         `toml:"url"`         // http, https, socks5 or socks5h://[user:password@]host:port; required
	CAFile     string         `toml:"ca_file"`     // https: PEM roots its certificate must chain to; default the system's
	ServerName string         `toml:"server_name"` // https: name its certificate must carry; default the url's host
	Cert       string         `toml:"cert"`        // https: PEM client certificate for mutual TLS; default none
	Key        string         `toml:"key"`         // its key, with cert
	Via        string         `toml:"via"`         // the upstream this one is reached through; default "": directly
	Health     UpstreamHealth `toml:"health"`
}

// UpstreamHealth is an [upstream.health] table.
type UpstreamHealth struct {
	Backoff    Duration `toml:"backoff"`     // left out this long after a failure, doubling while it fails; default 2s
	MaxBackoff Duration `toml:"max_backoff"` // the longest it is left out; default 1m (or backoff, if longer)
	Probe      string   `toml:"probe"`       // host:port to open a tunnel to as an active check; default "": none
	Interval   Duration `toml:"interval"`    // between active checks; default 30s
}

// UpstreamGroup is one [[upstream_group]].
type UpstreamGroup struct {
	Name    string   `toml:"name"`    // required
	Members []string `toml:"members"` // upstream names; required
	Policy  string   `toml:"policy"`  // failover | round-robin | least-connections; default failover
}

// Route is one [[route]]: requests its matchers hold for go to Upstream.
// The matchers are the ACL's (acl.Match), with not. for exceptions.
type Route struct {
	Name     string `toml:"name"`     // for the access log; default "route<i>"
	Upstream string `toml:"upstream"` // direct | env | an upstream's or group's name; required
	acl.Match
	Not *acl.Match `toml:"not"`
}

// Routing is the [routing] table.
type Routing struct {
	Default string `toml:"default"` // where requests no route matches go; default "direct"
}

// ListenerTLS is a listener's tls = { ... }: the proxy protocols spoken
// inside TLS (an HTTPS proxy).
type ListenerTLS struct {
	Cert     string `toml:"cert"`      // PEM certificate chain; required
	Key      string `toml:"key"`       // its key; required
	ClientCA string `toml:"client_ca"` // PEM CAs; when set, clients must present a certificate one of them signed
	CertUser string `toml:"cert_user"` // none | cn | email | dns: the client certificate's name used as the user; default none
}

// Duration is a duration written as a string ("10s"). A bare number is
// refused: TOML would read it as nanoseconds.
type Duration time.Duration

// UnmarshalTOML reads "10s".
func (d *Duration) UnmarshalTOML(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf(`must be a duration string such as "10s", not %v`, v)
	}
	x, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q", s)
	}
	*d = Duration(x)
	return nil
}

// MarshalText writes "10s", so that ferry check prints what it reads.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Reserved route targets.
const (
	RouteDirect = "direct"
	RouteEnv    = "env"
)

var upstreamSchemes = []string{"http", "https", "socks5", "socks5h"}

// validateChain checks [[upstream]], [[upstream_group]], [[route]],
// [routing] and the listeners' tls tables. Files are looked up relative
// to dir (the config file's folder).
func (f *File) validateChain(dir string) []problem {
	var ps []problem
	add := func(key, format string, args ...any) {
		ps = append(ps, problem{key, fmt.Sprintf(format, args...)})
	}
	file := func(key, path string) string {
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		if _, err := os.Stat(path); err != nil {
			add(key, "%v", err)
			return ""
		}
		return path
	}
	targets := map[string]string{RouteDirect: "reserved", RouteEnv: "reserved"}
	ups := map[string]*Upstream{}
	for i := range f.Upstreams {
		u := &f.Upstreams[i]
		key := fmt.Sprintf("upstream[%d]", i)
		switch {
		case !validName(u.Name):
			add(key+".name", "want a name of letters, digits, - _ . (it is logged and sent in Proxy-Status), not %q", u.Name)
		case targets[u.Name] != "":
			add(key+".name", "%q is already used (or reserved: direct, env)", u.Name)
		default:
			targets[u.Name] = "upstream"
			ups[u.Name] = u
		}
		pu, err := checkUpstreamURL(u.URL)
		if err != nil {
			add(key+".url", "%v", err)
		}
		tlsOnly := map[string]string{"ca_file": u.CAFile, "server_name": u.ServerName, "cert": u.Cert, "key": u.Key}
		if pu != nil && pu.Scheme != "https" {
			for k, v := range tlsOnly {
				if v != "" {
					add(key+"."+k, "only an https:// upstream speaks TLS")
				}
			}
		}
		if u.CAFile != "" {
			if p := file(key+".ca_file", u.CAFile); p != "" {
				if _, err := LoadCertPool(p); err != nil {
					add(key+".ca_file", "%v", err)
				}
			}
		}
		if (u.Cert == "") != (u.Key == "") {
			add(key+".cert", "cert and key go together")
		} else if u.Cert != "" {
			c, k := file(key+".cert", u.Cert), file(key+".key", u.Key)
			if c != "" && k != "" {
				if _, err := tls.LoadX509KeyPair(c, k); err != nil {
					add(key+".cert", "%v", err)
				}
			}
		}
		h := &u.Health
		if h.MaxBackoff == 0 && time.Duration(h.Backoff) > time.Minute {
			h.MaxBackoff = h.Backoff // the default cap is 1m, or backoff when that is longer
		}
		for _, d := range []struct {
			k string
			v *Duration
			d time.Duration
		}{{"backoff", &h.Backoff, 2 * time.Second}, {"max_backoff", &h.MaxBackoff, time.Minute}, {"interval", &h.Interval, 30 * time.Second}} {
			if *d.v < 0 {
				add(key+".health."+d.k, "must not be negative")
			}
			if *d.v == 0 {
				*d.v = Duration(d.d)
			}
		}
		if h.MaxBackoff < h.Backoff {
			add(key+".health.max_backoff", "must not be less than backoff")
		}
		if h.Probe != "" {
			if err := checkTarget(h.Probe); err != nil {
				add(key+".health.probe", "%v", err)
			}
		}
	}
	for i, u := range f.Upstreams {
		if u.Via == "" {
			continue
		}
		key := fmt.Sprintf("upstream[%d].via", i)
		if ups[u.Via] == nil {
			add(key, "no [[upstream]] named %q", u.Via)
			continue
		}
		// Follow the chain: a loop would dial for ever.
		path := []string{u.Name}
		for v := ups[u.Via]; v != nil; v = ups[v.Via] {
			path = append(path, v.Name)
			if v.Name == u.Name {
				add(key, "the via chain loops: %s", strings.Join(path, " → "))
				break
			}
			if len(path) > len(f.Upstreams)+1 {
				break // a loop further on, reported at its own upstream
			}
		}
	}
	for i := range f.Groups {
		g := &f.Groups[i]
		key := fmt.Sprintf("upstream_group[%d]", i)
		switch {
		case !validName(g.Name):
			add(key+".name", "want a name of letters, digits, - _ ., not %q", g.Name)
		case targets[g.Name] != "":
			add(key+".name", "%q is already used by an upstream or group (or reserved: direct, env)", g.Name)
		default:
			targets[g.Name] = "group"
		}
		if len(g.Members) == 0 {
			add(key+".members", "a group needs at least one upstream")
		}
		seen := map[string]bool{}
		for j, m := range g.Members {
			if ups[m] == nil {
				add(fmt.Sprintf("%s.members[%d]", key, j), "no [[upstream]] named %q", m)
			}
			if seen[m] {
				add(fmt.Sprintf("%s.members[%d]", key, j), "%q is listed twice", m)
			}
			seen[m] = true
		}
		if g.Policy == "" {
			g.Policy = "failover"
		}
		switch g.Policy {
		case "failover", "round-robin", "least-connections":
		default:
			add(key+".policy", "must be failover, round-robin or least-connections, not %q", g.Policy)
		}
	}
	target := func(key, to string) {
		if to == "" {
			add(key, "required: direct, env, or the name of an [[upstream]] or [[upstream_group]]")
		} else if targets[to] == "" {
			add(key, "%q is not direct, env, an [[upstream]] or an [[upstream_group]]", to)
		}
	}
	names := map[string]bool{"default": true, "direct": true}
	for i := range f.Routes {
		r := &f.Routes[i]
		key := fmt.Sprintf("route[%d]", i)
		if r.Name == "" {
			r.Name = fmt.Sprintf("route%d", i)
		}
		if names[r.Name] {
			add(key+".name", "route name %q used twice (or reserved: default, direct)", r.Name)
		}
		names[r.Name] = true
		target(key+".upstream", r.Upstream)
		if _, err := acl.CompileMatch(r.Match, r.Not, f.ACL.Timezone, acl.Env{Groups: f.Auth.Groups}); err != nil {
			for _, e := range err.(acl.Errors) {
				add(key+"."+e.Key, "%s", e.Msg)
			}
		}
	}
	if f.Routing.Default != "" { // "" is direct
		target("routing.default", f.Routing.Default)
	}
	for i, l := range f.Listeners {
		if l.TLS != nil {
			ps = append(ps, l.TLS.validate(fmt.Sprintf("listener[%d].tls", i), file)...)
		}
	}
	return ps
}

func (t *ListenerTLS) validate(key string, file func(key, path string) string) []problem {
	var ps []problem
	add := func(k, format string, args ...any) {
		ps = append(ps, problem{key + "." + k, fmt.Sprintf(format, args...)})
	}
	if t.Cert == "" || t.Key == "" {
		add("cert", "a TLS listener needs cert and key")
	} else if c, k := file(key+".cert", t.Cert), file(key+".key", t.Key); c != "" && k != "" {
		if _, err := tls.LoadX509KeyPair(c, k); err != nil {
			add("cert", "%v", err)
		}
	}
	if t.ClientCA != "" {
		if p := file(key+".client_ca", t.ClientCA); p != "" {
			if _, err := LoadCertPool(p); err != nil {
				add("client_ca", "%v", err)
			}
		}
	}
	switch t.CertUser {
	case "", "none":
		t.CertUser = "none"
	case "cn", "email", "dns":
		if t.ClientCA == "" {
			add("cert_user", "needs client_ca: only a verified certificate names a user")
		}
	default:
		add("cert_user", "must be none, cn, email or dns, not %q", t.CertUser)
	}
	return ps
}

// LoadCertPool reads PEM certificates into a pool; a file with none is an
// error.
func LoadCertPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
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
	ok := false
	for _, sc := range upstreamSchemes {
		ok = ok || u.Scheme == sc
	}
	if !ok {
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
