package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// StoreUsage is what one cache store holds now.
type StoreUsage struct {
	Store   string // memory or disk
	Objects int
	Bytes   int64
}

// SetCacheUsage registers where the cache's store sizes come from
// (ferry_cache_objects{store}, ferry_cache_stored_bytes{store}), read at
// each scrape; cmd/ferry calls it when [cache] is on. nil unregisters.
func (m *Metrics) SetCacheUsage(f func() []StoreUsage) { m.cacheUsage.fn.Store(&f) }

// usageCollector turns the usage function into two gauges per store.
type usageCollector struct {
	objects, bytes *prometheus.Desc
	fn             atomic.Pointer[func() []StoreUsage]
}

func newUsage() *usageCollector {
	return &usageCollector{
		objects: prometheus.NewDesc("ferry_cache_objects", "Responses stored in the cache now, by store.", []string{"store"}, nil),
		bytes:   prometheus.NewDesc("ferry_cache_stored_bytes", "Bytes stored in the cache now, by store.", []string{"store"}, nil),
	}
}

func (u *usageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- u.objects
	ch <- u.bytes
}

func (u *usageCollector) Collect(ch chan<- prometheus.Metric) {
	fp := u.fn.Load()
	if fp == nil || *fp == nil {
		return
	}
	seen := map[string]bool{}
	for _, s := range (*fp)() {
		if seen[s.Store] {
			continue
		}
		seen[s.Store] = true
		ch <- prometheus.MustNewConstMetric(u.objects, prometheus.GaugeValue, float64(s.Objects), s.Store)
		ch <- prometheus.MustNewConstMetric(u.bytes, prometheus.GaugeValue, float64(s.Bytes), s.Store)
	}
}
