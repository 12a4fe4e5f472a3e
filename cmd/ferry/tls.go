package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"sync/atomic"

	"github.com/ferry-proxy/ferry/front"
	"github.com/ferry-proxy/ferry/internal/config"
	"github.com/ferry-proxy/ferry/tunnel"
)

// tlsListeners is the TLS material of the TLS listeners, which reloads
// swap.
type tlsListeners struct {
	byLn   map[net.Listener]*atomic.Pointer[listenerTLS]
	byName map[string]*atomic.Pointer[listenerTLS] // the same, by listener name
}

// listenerTLS is one TLS listener's server config and how its client
// certificates name users.
type listenerTLS struct {
	cfg  *tls.Config
	spec *front.ListenerTLS
}

// loadListenerTLS reads the TLS material of every TLS listener of cfg.
func loadListenerTLS(cfg *config.File) (map[string]*listenerTLS, error) {
	out := map[string]*listenerTLS{}
	for _, l := range cfg.Listeners {
		if l.TLS == nil {
			continue
		}
		h2 := cfg.HTTP2.Enabled && l.Protocol != front.SOCKS
		c, err := l.TLS.ServerConfig(filepath.Dir(cfg.Path), h2)
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", l.Name, err)
		}
		out[l.Name] = &listenerTLS{cfg: c, spec: l.TLS}
	}
	return out, nil
}

// startTLS makes the TLS listeners among lns speak TLS, with material a
// reload can replace (prepareTLS).
func (a *app) startTLS(cfg *config.File, lns []net.Listener) error {
	loaded, err := loadListenerTLS(cfg)
	if err != nil {
		return err
	}
	a.tls.byLn = map[net.Listener]*atomic.Pointer[listenerTLS]{}
	a.tls.byName = map[string]*atomic.Pointer[listenerTLS]{}
	for i, ln := range lns {
		name := cfg.Listeners[i].Name
		if lt := loaded[name]; lt != nil {
			p := &atomic.Pointer[listenerTLS]{}
			p.Store(lt)
			a.tls.byLn[ln] = p
			a.tls.byName[name] = p
		}
	}
	a.mux.TLS = func(ln net.Listener) *tls.Config {
		p := a.tls.byLn[ln]
		if p == nil {
			return nil
		}
		return &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return p.Load().cfg, nil }}
	}
	a.mux.TLSContext = func(ctx context.Context, ln net.Listener, cs tls.ConnectionState) context.Context {
		p := a.tls.byLn[ln]
		if p == nil || len(cs.PeerCertificates) == 0 {
			return ctx
		}
		return tunnel.WithCertUser(ctx, p.Load().spec.UserOf(cs.PeerCertificates[0]))
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
		if a.tls.byName[name] == nil {
			return nil, fmt.Errorf("listener %s: tls cannot be turned on by a reload; restart ferry for that", name)
		}
	}
	for name := range a.tls.byName {
		if loaded[name] == nil {
			return nil, fmt.Errorf("listener %s: tls cannot be turned off by a reload; restart ferry for that", name)
		}
	}
	return func() {
		for name, lt := range loaded {
			a.tls.byName[name].Store(lt)
		}
	}, nil
}
