package metrics

import (
	"sync/atomic"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/prometheus/client_golang/prometheus"
)

// packets are the datagram associations' metrics (issue 17): datagrams
// relayed, and dropped by reason, from each association's access record
// when it ends; destinations by verdict; and the associations open now,
// read from the engine at each scrape.
type packets struct {
	datagrams *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	dests     *prometheus.CounterVec
	open      atomic.Pointer[func() int]
}

func newPackets(f factory) *packets {
	p := &packets{
		datagrams: f.counter("ferry_datagrams_total",
			"Datagrams relayed by UDP associations (SOCKS5 UDP ASSOCIATE, CONNECT-UDP), by front-end protocol and direction (up: client to destination).", "proto", "direction"),
		dropped: f.counter("ferry_datagrams_dropped_total",
			"Datagrams dropped by UDP associations, by reason: stranger, malformed, fragment, too_many_destinations, denied, unreachable, queue, unsolicited, send_failed.", "reason"),
		dests: f.counter("ferry_udp_destinations_total",
			"Destinations UDP associations sent to, by the ACL's decision (allow, deny).", "decision"),
	}
	for _, d := range tunnel.Drops() {
		p.dropped.WithLabelValues(d.String())
	}
	f.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ferry_udp_associations_active",
		Help: "UDP associations (SOCKS5 UDP ASSOCIATE, CONNECT-UDP) open now."}, func() float64 {
		if fn := p.open.Load(); fn != nil {
			return float64((*fn)())
		}
		return 0
	}))
	return p
}

// write counts an association's record.
func (p *packets) write(r *accesslog.Record) {
	st := r.Packets
	if st.DgramsUp > 0 {
		p.datagrams.WithLabelValues(r.Proto, "up").Add(float64(st.DgramsUp))
	}
	if st.DgramsDown > 0 {
		p.datagrams.WithLabelValues(r.Proto, "down").Add(float64(st.DgramsDown))
	}
	for _, d := range tunnel.Drops() {
		if n := st.Dropped[d]; n > 0 {
			p.dropped.WithLabelValues(d.String()).Add(float64(n))
		}
	}
	if allowed := st.Dests - st.Denied; allowed > 0 {
		p.dests.WithLabelValues(tunnel.DecisionAllow).Add(float64(allowed))
	}
	if st.Denied > 0 {
		p.dests.WithLabelValues(tunnel.DecisionDeny).Add(float64(st.Denied))
	}
}

// SetAssociations registers where the number of open UDP associations
// comes from (the engine's Associations); called once at start.
func (m *Metrics) SetAssociations(f func() int) { m.packets.open.Store(&f) }
