package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// LimitStat is what one [[limit]] rule did since start (issue 18 item 2):
// its labels are the config's rule names, a bounded set.
type LimitStat struct {
	Limit     string
	Refused   map[string]int64 // by what was over: tunnels, requests, bytes
	Stopped   int64            // tunnels ended when their byte quota was spent
	StoreDown int64            // refused because the shared store was down and the rule fails closed
}

// FleetStat is the state of the fleet's Redis.
type FleetStat struct {
	Up      bool
	Slow    int64 // calls it did not answer in time
	Changes int64 // times it went down or came back
}

// SetLimits registers where the limits' counters come from; nil
// unregisters.
func (m *Metrics) SetLimits(f func() []LimitStat) { m.limits.limits.Store(&f) }

// SetFleet registers where the fleet's Redis state comes from (only with a
// [fleet] redis); nil unregisters.
func (m *Metrics) SetFleet(f func() FleetStat) { m.limits.fleet.Store(&f) }

type limitsCollector struct {
	limits                                         atomic.Pointer[func() []LimitStat]
	fleet                                          atomic.Pointer[func() FleetStat]
	refused, stopped, storeDown, up, slow, changes *prometheus.Desc
}

func newLimits() *limitsCollector {
	return &limitsCollector{
		refused: prometheus.NewDesc("ferry_limit_refused_total",
			"Requests and tunnels refused by a [[limit]], by the limit and what was over (tunnels, requests, bytes).", []string{"limit", "kind"}, nil),
		stopped: prometheus.NewDesc("ferry_limit_quota_stopped_total",
			"Tunnels ended while running because their byte quota was spent, by limit.", []string{"limit"}, nil),
		storeDown: prometheus.NewDesc("ferry_limit_store_down_refused_total",
			"Requests refused because the fleet's Redis was unreachable and the limit fails closed, by limit.", []string{"limit"}, nil),
		up: prometheus.NewDesc("ferry_fleet_redis_up",
			"Whether the fleet's Redis answered the last call (1) or is being reconnected to (0).", nil, nil),
		slow: prometheus.NewDesc("ferry_fleet_redis_slow_total",
			"Calls the fleet's Redis did not answer within fleet.timeout; each fell back as the limit's on_store_error says.", nil, nil),
		changes: prometheus.NewDesc("ferry_fleet_redis_state_changes_total",
			"Times the fleet's Redis went down or came back.", nil, nil),
	}
}

func (c *limitsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.refused, c.stopped, c.storeDown, c.up, c.slow, c.changes} {
		ch <- d
	}
}

func (c *limitsCollector) Collect(ch chan<- prometheus.Metric) {
	if fp := c.limits.Load(); fp != nil && *fp != nil {
		for _, s := range (*fp)() {
			for kind, n := range s.Refused {
				ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(n), s.Limit, kind)
			}
			ch <- prometheus.MustNewConstMetric(c.stopped, prometheus.CounterValue, float64(s.Stopped), s.Limit)
			ch <- prometheus.MustNewConstMetric(c.storeDown, prometheus.CounterValue, float64(s.StoreDown), s.Limit)
		}
	}
	if fp := c.fleet.Load(); fp != nil && *fp != nil {
		s := (*fp)()
		up := 0.0
		if s.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
		ch <- prometheus.MustNewConstMetric(c.slow, prometheus.CounterValue, float64(s.Slow))
		ch <- prometheus.MustNewConstMetric(c.changes, prometheus.CounterValue, float64(s.Changes))
	}
}
