package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/internal/config"
	"github.com/ferry-proxy/ferry/internal/metrics"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
)

// chainApp is the running state of chaining: the TLS material of the TLS
// listeners, swapped by reloads.
type chainApp struct {
	tls    map[net.Listener]*atomic.Pointer[listenerTLS]
	byName map[string]*atomic.Pointer[listenerTLS] // the same, by listener name
}

// listenerTLS is one TLS listener's server config and how its client
// certificates name users.
type listenerTLS struct {
	cfg      *tls.Config
	certUser string // none, cn, email or dns
}

// buildRoutes compiles [[upstream]], [[upstream_group]], [[route]] and
// [routing] into p.Routes. With none of them p.Routes stays nil: every
// request goes direct, as without chaining. Route matchers compile with
// the ACL's env, so domain_list files are read (and shared) the same way.
func buildRoutes(cfg *config.File, env acl.Env, p *tunnel.Policy, log zerolog.Logger) error {
	def := cfg.Routing.Default
	if len(cfg.Upstreams) == 0 && len(cfg.Routes) == 0 && (def == "" || def == config.RouteDirect) {
		return nil
	}
	spec := tunnel.RoutingSpec{Default: def, Env: tunnel.ProxyEnvFrom(os.Getenv)}
	for i, u := range cfg.Upstreams {
		us, err := upstreamSpec(cfg, u)
		if err != nil {
			return cfg.At(fmt.Sprintf("upstream[%d]", i), fmt.Errorf("%s: %w", u.Name, err))
		}
		spec.Upstreams = append(spec.Upstreams, us)
	}
	for _, g := range cfg.Groups {
		spec.Groups = append(spec.Groups, tunnel.GroupSpec{Name: g.Name, Members: g.Members, Policy: g.Policy})
	}
	usesEnv := def == config.RouteEnv
	for i, r := range cfg.Routes {
		m, err := acl.CompileMatch(r.Match, r.Not, cfg.ACL.Timezone, env)
		if err != nil {
			return cfg.At(fmt.Sprintf("route[%d]", i), err)
		}
		spec.Routes = append(spec.Routes, tunnel.RouteSpec{Name: r.Name, Match: m, To: r.Upstream})
		usesEnv = usesEnv || r.Upstream == config.RouteEnv
	}
	rt, err := tunnel.NewRoutes(spec)
	if err != nil {
		return fmt.Errorf("routing: %w", err)
	}
	p.Routes = rt
	if def == "" {
		def = config.RouteDirect
	}
	log.Info().Int("upstreams", len(cfg.Upstreams)).Int("groups", len(cfg.Groups)).Int("routes", len(cfg.Routes)).
		Str("default", def).Msg("routing")
	if usesEnv {
		e := spec.Env
		log.Info().Str("https", redactProxy(e.HTTPS)).Str("https_from", e.HTTPSFrom).Str("http", redactProxy(e.HTTP)).
			Str("http_from", e.HTTPFrom).Str("no_proxy", e.NoProxy).Msg("routing: proxies from the environment")
	}
	return nil
}

// redactProxy hides a password in a proxy variable's value.
func redactProxy(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// upstreamSpec turns a validated [[upstream]] into a tunnel.UpstreamSpec,
// reading its TLS files (relative to the config file).
func upstreamSpec(cfg *config.File, u config.Upstream) (tunnel.UpstreamSpec, error) {
	pu, err := url.Parse(u.URL)
	if err != nil {
		return tunnel.UpstreamSpec{}, err
	}
	s := tunnel.UpstreamSpec{Name: u.Name, URL: pu, Via: u.Via, Health: tunnel.HealthSpec{
		Backoff:    time.Duration(u.Health.Backoff),
		MaxBackoff: time.Duration(u.Health.MaxBackoff),
		Probe:      u.Health.Probe,
		Interval:   time.Duration(u.Health.Interval),
	}}
	if pu.Scheme != "https" {
		return s, nil
	}
	c := &tls.Config{ServerName: u.ServerName, MinVersion: tls.VersionTLS12}
	if u.CAFile != "" {
		if c.RootCAs, err = config.LoadCertPool(resolve(cfg, u.CAFile)); err != nil {
			return s, fmt.Errorf("ca_file: %w", err)
		}
	}
	if u.Cert != "" {
		pair, err := tls.LoadX509KeyPair(resolve(cfg, u.Cert), resolve(cfg, u.Key))
		if err != nil {
			return s, fmt.Errorf("cert: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	s.TLS = c
	return s, nil
}

// upstreamLog logs upstreams going down and coming back.
func upstreamLog(log zerolog.Logger) func(tunnel.UpstreamEvent) {
	return func(ev tunnel.UpstreamEvent) {
		if ev.Up {
			log.Info().Str("upstream", ev.Name).Msg("upstream up")
			return
		}
		log.Warn().Str("upstream", ev.Name).Str("reason", ev.Reason).Dur("left_out", ev.For).Msg("upstream down")
	}
}

// loadListenerTLS reads the TLS material of every TLS listener of cfg.
func loadListenerTLS(cfg *config.File) (map[string]*listenerTLS, error) {
	out := map[string]*listenerTLS{}
	for _, l := range cfg.Listeners {
		t := l.TLS
		if t == nil {
			continue
		}
		pair, err := tls.LoadX509KeyPair(resolve(cfg, t.Cert), resolve(cfg, t.Key))
		if err != nil {
			return nil, fmt.Errorf("listener %s: tls: %w", l.Name, err)
		}
		c := &tls.Config{
			Certificates: []tls.Certificate{pair},
			MinVersion:   tls.VersionTLS12,
			// The proxy protocols are HTTP/1.1 (CONNECT, absolute form)
			// and SOCKS: never h2.
			NextProtos: []string{"http/1.1"},
		}
		if t.ClientCA != "" {
			if c.ClientCAs, err = config.LoadCertPool(resolve(cfg, t.ClientCA)); err != nil {
				return nil, fmt.Errorf("listener %s: tls.client_ca: %w", l.Name, err)
			}
			c.ClientAuth = tls.RequireAndVerifyClientCert
		}
		out[l.Name] = &listenerTLS{cfg: c, certUser: t.CertUser}
	}
	return out, nil
}

// startChain makes the TLS listeners among lns speak TLS, with material a
// reload can replace (prepareTLS), and gives the metrics the upstreams'
// health (ferry_upstream_up).
func (a *app) startChain(cfg *config.File, lns []net.Listener) error {
	a.ops.metrics.SetUpstreams(func() []metrics.Health {
		var hs []metrics.Health
		for _, u := range a.engine.UpstreamStates() {
			hs = append(hs, metrics.Health{Name: u.Name, Up: u.Up})
		}
		return hs
	})
	loaded, err := loadListenerTLS(cfg)
	if err != nil {
		return err
	}
	a.chain.tls = map[net.Listener]*atomic.Pointer[listenerTLS]{}
	a.chain.byName = map[string]*atomic.Pointer[listenerTLS]{}
	for i, ln := range lns {
		name := cfg.Listeners[i].Name
		if lt := loaded[name]; lt != nil {
			p := &atomic.Pointer[listenerTLS]{}
			p.Store(lt)
			a.chain.tls[ln] = p
			a.chain.byName[name] = p
		}
	}
	a.mux.TLS = func(ln net.Listener) *tls.Config {
		p := a.chain.tls[ln]
		if p == nil {
			return nil
		}
		return &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return p.Load().cfg, nil }}
	}
	a.mux.TLSContext = func(ctx context.Context, ln net.Listener, cs tls.ConnectionState) context.Context {
		p := a.chain.tls[ln]
		if p == nil || len(cs.PeerCertificates) == 0 {
			return ctx
		}
		return tunnel.WithCertUser(ctx, certUser(cs.PeerCertificates[0], p.Load().certUser))
	}
	return nil
}

// prepareTLS reads the TLS listeners' material of a reloaded config and
// returns the swap to run once the whole reload has been accepted.
func (a *app) prepareTLS(cfg *config.File) (commit func(), err error) {
	loaded, err := loadListenerTLS(cfg)
	if err != nil {
		return nil, err
	}
	for name := range loaded {
		if a.chain.byName[name] == nil {
			return nil, fmt.Errorf("listener %s: tls cannot be turned on by a reload; restart ferry for that", name)
		}
	}
	for name := range a.chain.byName {
		if loaded[name] == nil {
			return nil, fmt.Errorf("listener %s: tls cannot be turned off by a reload; restart ferry for that", name)
		}
	}
	return func() {
		for name, lt := range loaded {
			a.chain.byName[name].Store(lt)
		}
	}, nil
}

// certUser is the name a verified client certificate gives its user, by
// the listener's cert_user: the subject's common name, or the first
// e-mail or DNS subject alternative name; "" when it has none.
func certUser(c *x509.Certificate, how string) string {
	switch how {
	case "cn":
		return c.Subject.CommonName
	case "email":
		if len(c.EmailAddresses) > 0 {
			return c.EmailAddresses[0]
		}
	case "dns":
		if len(c.DNSNames) > 0 {
			return c.DNSNames[0]
		}
	}
	return ""
}
