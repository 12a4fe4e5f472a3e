package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Health is the state of one health-checked peer.
type Health struct {
	Group string // the reverse route a backend belongs to; "" for upstreams
	Name  string // the upstream's name, or the backend's address from the config
	Up    bool
}

// HealthFunc lists the current states. It is called at every scrape, so
// it sees pools as a reload left them; it must be quick and safe for
// concurrent use.
type HealthFunc func() []Health

// SetUpstreams registers where upstream health comes from
// (ferry_upstream_up{upstream}); the chaining feature (issue 5) calls it
// once at start. nil unregisters.
func (m *Metrics) SetUpstreams(f HealthFunc) { m.upstreams.fn.Store(&f) }

// SetBackends registers where reverse backends' health comes from
// (ferry_backend_up{route,backend}); the reverse feature (issue 6) calls
// it once at start. nil unregisters.
func (m *Metrics) SetBackends(f HealthFunc) { m.backends.fn.Store(&f) }

// healthCollector turns a HealthFunc into a gauge per peer at scrape time.
type healthCollector struct {
	desc   *prometheus.Desc
	labels int
	fn     atomic.Pointer[HealthFunc]
}

func newHealth(name, help string, labels ...string) *healthCollector {
	return &healthCollector{desc: prometheus.NewDesc(name, help, labels, nil), labels: len(labels)}
}

func (h *healthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

func (h *healthCollector) Collect(ch chan<- prometheus.Metric) {
	fp := h.fn.Load()
	if fp == nil || *fp == nil {
		return
	}
	seen := map[[2]string]bool{}
	for _, s := range (*fp)() {
		key := [2]string{s.Group, s.Name}
		if seen[key] {
			continue // a duplicate would fail the whole scrape
		}
		seen[key] = true
		v := 0.0
		if s.Up {
			v = 1
		}
		lv := []string{s.Name}
		if h.labels == 2 {
			lv = []string{s.Group, s.Name}
		}
		ch <- prometheus.MustNewConstMetric(h.desc, prometheus.GaugeValue, v, lv...)
	}
}
