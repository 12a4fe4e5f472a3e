package main

import (
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/ferry-proxy/ferry/internal/config"
)

// proxyFrom is each forward listener's proxy_protocol_from, which a
// reload may change (issue 18 item 1).
type proxyFrom struct {
	lns []net.Listener
	by  atomic.Pointer[map[net.Listener][]netip.Prefix]
}

// use takes cfg's lists; lns are cfg's listeners, in its order.
func (p *proxyFrom) use(cfg *config.File) {
	m := make(map[net.Listener][]netip.Prefix, len(p.lns))
	for i, ln := range p.lns {
		if from := cfg.Listeners[i].ProxyFrom(); len(from) > 0 {
			m[ln] = from
		}
	}
	p.by.Store(&m)
}

// of is Mux.ProxyFrom.
func (p *proxyFrom) of(ln net.Listener) []netip.Prefix { return (*p.by.Load())[ln] }
