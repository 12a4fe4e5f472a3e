package main

import (
	"context"
	"net/netip"

	"github.com/ferry-proxy/ferry/internal/config"
	"github.com/ferry-proxy/ferry/internal/metrics"
	"github.com/ferry-proxy/ferry/reverse"
)

// reverseConfig turns the validated [[reverse]] tables into reverse.Config.
func reverseConfig(cfg *config.File) reverse.Config {
	var rc reverse.Config
	for _, l := range cfg.Reverse {
		lc := reverse.ListenerConfig{
			Name:              l.Name,
			Address:           l.Address,
			Mode:              reverse.Mode(l.Mode),
			HandshakeTimeout:  l.HandshakeTimeout,
			MaxConns:          *l.MaxConns,
			MaxConnsPerIP:     *l.MaxConnsPerIP,
			Guard:             reverse.Guard{Allow: prefixes(l.Allow), Deny: prefixes(l.Deny)},
			ProxyProtocolFrom: prefixes(l.ProxyProtocolFrom),
		}
		for _, r := range l.Routes {
			route := reverse.RouteConfig{
				Name:              r.Name,
				ServerNames:       r.ServerNames,
				Default:           r.Default,
				Guard:             reverse.Guard{Allow: prefixes(r.Allow), Deny: prefixes(r.Deny)},
				TLS:               reverse.TLSMode(r.TLS),
				ALPN:              r.ALPN,
				BackendTLS:        r.BackendTLS,
				BackendCA:         r.BackendCA,
				BackendServerName: r.BackendServerName,
				Policy:            reverse.Policy(r.Policy),
				ProxyProtocol:     r.ProxyProtocol,
				Retries:           *r.Retries,
				Health: reverse.HealthConfig{
					Check:       r.Health.Check,
					Interval:    r.Health.Interval,
					Timeout:     r.Health.Timeout,
					Rise:        *r.Health.Rise,
					Fall:        *r.Health.Fall,
					FailTimeout: r.Health.FailTimeout,
				},
			}
			for _, c := range r.Certificates {
				route.Certificates = append(route.Certificates, reverse.CertFile{Cert: c.Cert, Key: c.Key})
			}
			for _, b := range r.Backends {
				route.Backends = append(route.Backends, reverse.BackendConfig{Address: b.Address, Weight: *b.Weight})
			}
			lc.Routes = append(lc.Routes, route)
		}
		rc.Listeners = append(rc.Listeners, lc)
	}
	return rc
}

// prefixes parses CIDRs that config validation has already accepted.
func prefixes(list []string) []netip.Prefix {
	ps := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := config.ParsePrefix(s); err == nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// startReverse binds the reverse listeners; an error fails the start.
func (a *app) startReverse(cfg *config.File) error {
	a.reverse = reverse.New(a.engine, a.sink, a.log)
	a.reverse.Observer = a.ops.metrics.Conns.Named() // connections by listener
	a.ops.metrics.SetBackends(a.backendHealth)
	return a.reverse.Apply(reverseConfig(cfg))
}

// backendHealth lists every reverse backend's health for the metrics
// (ferry_backend_up), read at each scrape.
func (a *app) backendHealth() []metrics.Health {
	var hs []metrics.Health
	for _, b := range a.reverse.Backends() {
		hs = append(hs, metrics.Health{Group: b.Listener + "/" + b.Route, Name: b.Address, Up: b.Up})
	}
	return hs
}

// reloadReverse swaps the route table; listeners are added and removed by
// address. On error nothing changed.
func (a *app) reloadReverse(cfg *config.File) error {
	return a.reverse.Apply(reverseConfig(cfg))
}

// drainReverse stops the reverse listeners and waits for their
// connections like the front mux's Drain.
func (a *app) drainReverse(ctx context.Context) bool {
	a.reverse.Close()
	return a.reverse.Drain(ctx)
}
