package tunnel

import (
	"fmt"
	"net"
	"net/url"

	"golang.org/x/net/http/httpproxy"
)

// ProxyEnv is the proxy configuration of the environment, as curl and Go
// read it: HTTPS_PROXY for https URLs, HTTP_PROXY for http ones (each in
// lower case first), ALL_PROXY (curl) for either when it is unset, and
// NO_PROXY.
type ProxyEnv struct {
	HTTP, HTTPS string // proxy URL or host[:port]; "" none
	NoProxy     string
	// From names the variable each came from, for the access log's
	// upstream field.
	HTTPFrom, HTTPSFrom string
}

// ProxyEnvFrom reads the variables through getenv (os.Getenv).
func ProxyEnvFrom(getenv func(string) string) *ProxyEnv {
	get := func(names ...string) (string, string) {
		for _, n := range names {
			if v := getenv(n); v != "" {
				return v, n
			}
		}
		return "", ""
	}
	e := &ProxyEnv{}
	e.HTTP, e.HTTPFrom = get("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")
	e.HTTPS, e.HTTPSFrom = get("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
	e.NoProxy, _ = get("no_proxy", "NO_PROXY")
	return e
}

// envTarget routes by the environment's proxies. Requests to loopback and
// localhost are never proxied (as in Go's net/http).
type envTarget struct {
	proxy  func(*url.URL) (*url.URL, error)
	byURL  map[string]string // proxy URL as the proxy func returns it → upstream name
	groups map[string]*group // by proxy URL
}

// newEnvTarget parses env and returns the upstreams it names (one per
// distinct URL, named after the variable it came from).
func newEnvTarget(env *ProxyEnv) (*envTarget, []UpstreamSpec, error) {
	if env == nil {
		env = &ProxyEnv{}
	}
	cfg := &httpproxy.Config{HTTPProxy: env.HTTP, HTTPSProxy: env.HTTPS, NoProxy: env.NoProxy}
	t := &envTarget{proxy: cfg.ProxyFunc(), byURL: map[string]string{}}
	var specs []UpstreamSpec
	for _, v := range []struct{ val, from string }{{env.HTTPS, env.HTTPSFrom}, {env.HTTP, env.HTTPFrom}} {
		if v.val == "" {
			continue
		}
		pu, err := parseEnvProxy(v.val)
		if err != nil {
			return nil, nil, fmt.Errorf("environment %s: %v", v.from, err)
		}
		if _, seen := t.byURL[pu.String()]; seen {
			continue
		}
		spec := *pu
		if spec.Port() == "" {
			spec.Host = net.JoinHostPort(spec.Hostname(), defaultProxyPort[spec.Scheme])
		}
		t.byURL[pu.String()] = v.from
		specs = append(specs, UpstreamSpec{Name: v.from, URL: &spec})
	}
	return t, specs, nil
}

// defaultProxyPort is the port of a proxy URL without one, as Go's
// net/http assumes.
var defaultProxyPort = map[string]string{"http": "80", "https": "443", "socks5": "1080", "socks5h": "1080"}

// parseEnvProxy reads a proxy variable as httpproxy does: a URL, or
// host[:port] meaning http.
func parseEnvProxy(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		if u2, err2 := url.Parse("http://" + s); err2 == nil {
			u, err = u2, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("not a proxy URL or host:port") // the value may hold a password: not quoted
	}
	if _, ok := defaultProxyPort[u.Scheme]; !ok {
		return nil, fmt.Errorf("proxy scheme %q: want http, https, socks5 or socks5h", u.Scheme)
	}
	return u, nil
}

func (t *envTarget) bind(byName map[string]*Upstream) {
	t.groups = map[string]*group{}
	for pu, name := range t.byURL {
		u := byName[name]
		t.groups[pu] = &group{name: name, members: []*Upstream{u}, policy: PolicyFailover}
	}
}

// group returns the group of the environment's proxy for req, or nil when
// the request goes direct (NO_PROXY, loopback, no proxy set).
func (t *envTarget) group(req *Request) *group {
	scheme := "https" // tunnels: what curl and browsers send through CONNECT
	if req.Proto == ProtoHTTP {
		scheme = "http"
	}
	pu, err := t.proxy(&url.URL{Scheme: scheme, Host: req.Target()})
	if err != nil || pu == nil {
		return nil
	}
	return t.groups[pu.String()]
}
