package reverse

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
)

// Table is one immutable generation of the reverse configuration: the
// listeners by address, each with its routes and pools. A reload builds a
// new Table and swaps it in whole; a connection uses the Table it was
// accepted under until it ends.
type Table struct {
	listeners map[string]*Listener // by name
	order     []*Listener
}

// Listener is a listener's settings, its lists parsed, and its route
// index within a Table.
type Listener struct {
	Name              string
	Address           string
	Mode              Mode
	HandshakeTimeout  time.Duration
	MaxConns          int            // 0 is unlimited
	MaxConnsPerIP     int            // 0 is unlimited
	Guard             Guard          // Allow and Deny
	ProxyProtocolFrom []netip.Prefix // peers that must send a PROXY header
	routes            []*Route
	exact             map[string]*Route
	wild              map[string]*Route // by suffix, ".example.com" for "*.example.com"
	def               *Route
}

// Route is where matching connections go.
type Route struct {
	Name          string
	Guard         Guard
	TLS           TLSMode
	ProxyProtocol byte
	Retries       int
	Pool          *Pool
	serverTLS     *tls.Config // Terminate only
	backendTLS    *tls.Config // Terminate with BackendTLS only
}

// NewTable builds a Table from cfg, loading certificates. Backends that
// old also has (same listener name, route name and backend address)
// are carried over with their health and connection counts.
func NewTable(cfg Config, old *Table) (*Table, error) {
	t := &Table{listeners: map[string]*Listener{}}
	for _, lc := range cfg.Listeners {
		if _, dup := t.listeners[lc.Name]; dup {
			return nil, fmt.Errorf("listener name %q used twice", lc.Name)
		}
		if lc.HandshakeTimeout <= 0 {
			lc.HandshakeTimeout = tunnel.DefaultHandshakeTimeout
		}
		l := &Listener{Name: lc.Name, Address: lc.Address, Mode: lc.Mode, HandshakeTimeout: lc.HandshakeTimeout,
			MaxConns: lc.MaxConns, MaxConnsPerIP: lc.MaxConnsPerIP, exact: map[string]*Route{}, wild: map[string]*Route{}}
		var err error
		if l.Guard, err = newGuard(lc.Allow, lc.Deny); err != nil {
			return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
		}
		if l.ProxyProtocolFrom, err = ParsePrefixes(lc.ProxyProtocolFrom); err != nil {
			return nil, fmt.Errorf("listener %q: proxy_protocol_from: %w", lc.Name, err)
		}
		for i := range lc.Routes {
			r, err := newRoute(&lc.Routes[i], lc.Name, old)
			if err != nil {
				return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
			}
			if err := l.index(r, &lc.Routes[i]); err != nil {
				return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
			}
		}
		if len(l.routes) == 0 {
			return nil, fmt.Errorf("listener %q: no route", lc.Name)
		}
		if lc.Mode == ModeTCP {
			if len(l.routes) != 1 {
				return nil, fmt.Errorf("listener %q: a tcp listener has exactly one route", lc.Name)
			}
			l.def = l.routes[0]
		}
		t.listeners[lc.Name] = l
		t.order = append(t.order, l)
	}
	return t, nil
}

func (l *Listener) index(r *Route, rc *RouteConfig) error {
	l.routes = append(l.routes, r)
	if rc.Default {
		if l.def != nil {
			return fmt.Errorf("routes %q and %q are both default", l.def.Name, r.Name)
		}
		l.def = r
	}
	for _, n := range rc.ServerNames {
		n = strings.TrimSuffix(strings.ToLower(n), ".")
		m, key := l.exact, n
		if suffix, ok := strings.CutPrefix(n, "*"); ok {
			m, key = l.wild, suffix
		}
		if prev := m[key]; prev != nil {
			return fmt.Errorf("server name %q in routes %q and %q", n, prev.Name, r.Name)
		}
		m[key] = r
	}
	return nil
}

// Route returns the route for a server name: an exact name first, then the
// longest matching *.suffix (which, as in nginx, covers any depth below
// it), then the default. nil means no route.
func (l *Listener) Route(sni string) *Route {
	if sni == "" {
		return l.def
	}
	if r := l.exact[sni]; r != nil {
		return r
	}
	for i := 0; i < len(sni); i++ {
		if sni[i] == '.' {
			if r := l.wild[sni[i:]]; r != nil {
				return r
			}
		}
	}
	return l.def
}

func newRoute(rc *RouteConfig, listener string, old *Table) (*Route, error) {
	guard, err := newGuard(rc.Allow, rc.Deny)
	if err != nil {
		return nil, fmt.Errorf("route %q: %w", rc.Name, err)
	}
	r := &Route{
		Name:          rc.Name,
		Guard:         guard,
		TLS:           rc.TLS,
		ProxyProtocol: byte(rc.ProxyProtocol),
		Retries:       max(rc.Retries, 0),
	}
	if r.TLS == "" {
		r.TLS = Passthrough
	}
	health := rc.Health
	if r.TLS == Terminate {
		if r.serverTLS, err = serverTLS(rc); err != nil {
			return nil, err
		}
		if rc.BackendTLS {
			if r.backendTLS, err = backendTLS(rc); err != nil {
				return nil, err
			}
			if health.Check == CheckTLS {
				health.TLS = r.backendTLS
			}
		}
	} else if health.Check == CheckTLS && (rc.BackendCA != "" || rc.BackendServerName != "") {
		// A passthrough route may still verify its backends' certificates
		// in health checks when given a CA.
		cfg, err := backendTLS(rc)
		if err != nil {
			return nil, err
		}
		health.TLS = cfg
	}
	bs := make([]*Backend, len(rc.Backends))
	for i, bc := range rc.Backends {
		bs[i] = newBackend(bc.Address, bc.Weight)
		if prev := old.backend(listener, rc.Name, bc.Address); prev != nil {
			bs[i].health = prev.health
		}
	}
	if len(bs) == 0 {
		return nil, fmt.Errorf("route %q: no backend", rc.Name)
	}
	policy := rc.Policy
	if policy == "" {
		policy = RoundRobin
	}
	r.Pool = NewPool(rc.Name, policy, health, bs, nil)
	return r, nil
}

// backend finds a backend of an older table to carry over.
func (t *Table) backend(listener, route, addr string) *Backend {
	if t == nil {
		return nil
	}
	l := t.listeners[listener]
	if l == nil {
		return nil
	}
	for _, r := range l.routes {
		if r.Name != route {
			continue
		}
		for _, b := range r.Pool.backends {
			if b.Address == addr {
				return b
			}
		}
	}
	return nil
}

// Listener returns the listener called name, or nil.
func (t *Table) Listener(name string) *Listener { return t.listeners[name] }

// Listeners lists the listeners in configuration order.
func (t *Table) Listeners() []*Listener { return t.order }
