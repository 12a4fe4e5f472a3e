package metrics

import (
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Conns is the front.Observer that counts client connections by listener
// name and sniffed protocol (http, socks, or none when the client sent
// nothing usable); its Named view counts the reverse listeners' (tcp, tls).
// It satisfies both observers by method shape: this leaf imports no front
// end.
type Conns struct {
	accepted *prometheus.CounterVec
	active   *prometheus.GaugeVec
	refused  *prometheus.CounterVec
	names    sync.Map // net.Listener → string
}

func newConns(f factory) *Conns {
	return &Conns{
		accepted: f.counter("ferry_connections_accepted_total",
			"Client connections accepted, by listener and protocol.", "listener", "protocol"),
		active: f.gaugeVec("ferry_connections_active",
			"Client connections open now, by listener and protocol.", "listener", "protocol"),
		refused: f.counter("ferry_connections_refused_total",
			"Client connections turned away over a connection cap (limits.max_conns; a reverse listener's max_conns or max_conns_per_ip), by listener.", "listener"),
	}
}

// Name gives ln its config name for the listener label; unnamed listeners
// are labelled by their address.
func (c *Conns) Name(ln net.Listener, name string) {
	c.names.Store(ln, name)
	for _, p := range []string{"http", "socks"} {
		c.accepted.WithLabelValues(name, p) // present at 0 from the start
		c.active.WithLabelValues(name, p)
	}
	c.refused.WithLabelValues(name)
}

func (c *Conns) name(ln net.Listener) string {
	if v, ok := c.names.Load(ln); ok {
		return v.(string)
	}
	return ln.Addr().String()
}

func protoLabel(p string) string {
	if p == "" {
		return "none"
	}
	return p
}

// Opened counts an accepted connection.
func (c *Conns) Opened(ln net.Listener, p string) {
	name, proto := c.name(ln), protoLabel(p)
	c.accepted.WithLabelValues(name, proto).Inc()
	c.active.WithLabelValues(name, proto).Inc()
}

// Refused counts a connection over the limit.
func (c *Conns) Refused(ln net.Listener, _ string) {
	c.refused.WithLabelValues(c.name(ln)).Inc()
}

// Closed counts a connection's end.
func (c *Conns) Closed(ln net.Listener, p string) {
	c.active.WithLabelValues(c.name(ln), protoLabel(p)).Dec()
}

// Named is the view of Conns for listeners known by name rather than by
// net.Listener: the reverse listeners (it is a reverse.Observer), whose
// protocol label is their mode, tcp or tls.
type Named struct{ c *Conns }

// Named returns the by-name view of c.
func (c *Conns) Named() Named { return Named{c} }

// Opened counts an accepted connection.
func (n Named) Opened(listener, proto string) {
	n.c.accepted.WithLabelValues(listener, proto).Inc()
	n.c.active.WithLabelValues(listener, proto).Inc()
}

// Refused counts a connection turned away over a connection cap.
func (n Named) Refused(listener, _ string) { n.c.refused.WithLabelValues(listener).Inc() }

// Closed counts a connection's end.
func (n Named) Closed(listener, proto string) { n.c.active.WithLabelValues(listener, proto).Dec() }
