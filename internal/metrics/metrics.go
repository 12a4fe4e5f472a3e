package metrics

import (
	"net/http"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds ferry's registry and collectors. It is an accesslog.Sink
// (Write) and, through Conns, a front.Observer.
type Metrics struct {
	reg *prometheus.Registry

	requests     *prometheus.CounterVec
	aclDecisions *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	bytes        *prometheus.CounterVec
	dial         *prometheus.HistogramVec
	duration     *prometheus.HistogramVec
	cacheReqs    *prometheus.CounterVec
	cacheBytes   *prometheus.CounterVec
	reloads      *prometheus.CounterVec
	reloadOK     prometheus.Gauge
	reloadTime   prometheus.Gauge

	// Conns counts connections; set it as the front mux's Observer.
	Conns *Conns

	packets *packets // packets.go

	upstreams  *healthCollector
	backends   *healthCollector
	cacheUsage *usageCollector
	limits     *limitsCollector // limits.go
}

// Buckets: a dial is bounded by dial_timeout (10s by default); a tunnel
// may last from a refused instant to hours.
var (
	dialBuckets     = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	durationBuckets = []float64{.005, .01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400}
)

// New returns Metrics with the Go runtime and process collectors (go_*,
// process_*: goroutines, heap, open fds) and ferry_build_info registered.
func New(version, commit string) *Metrics {
	reg := prometheus.NewRegistry()
	f := factory{reg}
	m := &Metrics{
		reg: reg,
		requests: f.counter("ferry_requests_total",
			"Requests and tunnels finished (one per access-log event), by front-end protocol and outcome: ok, auth_failed, or the RFC 9209 error type answered.",
			"proto", "outcome"),
		aclDecisions: f.counter("ferry_acl_decisions_total",
			"ACL verdicts by deciding rule and action (allow, deny, or undecided: the rule waited for an address and none was checked).", "rule", "action"),
		authFailures: f.counter("ferry_auth_failures_total",
			"Requests refused for missing or wrong credentials (HTTP 407, SOCKS auth failure).", "proto"),
		bytes: f.counter("ferry_bytes_total",
			"Payload bytes relayed, by protocol and direction: up is client to target, down is target to client.", "proto", "direction"),
		dial: f.histogram("ferry_dial_duration_seconds",
			"Time to resolve and connect to a target, by result (ok, error).", dialBuckets, "result"),
		duration: f.histogram("ferry_request_duration_seconds",
			"Time from the request to the end of its response or tunnel, by protocol.", durationBuckets, "proto"),
		cacheReqs: f.counter("ferry_cache_requests_total",
			"Plain-HTTP requests the cache was asked about, by result (hit, revalidated, refreshed, stale, miss, bypass, other).", "result"),
		cacheBytes: f.counter("ferry_cache_bytes_total",
			"Response bytes sent to clients for requests the cache was asked about, by result.", "result"),
		reloads: f.counter("ferry_config_reloads_total",
			"Config reloads (SIGHUP), by result (success, failure).", "result"),
		reloadOK: f.gauge("ferry_config_last_reload_successful",
			"1 if the last config reload succeeded (or none was tried), 0 if it was refused."),
		reloadTime: f.gauge("ferry_config_last_reload_success_timestamp_seconds",
			"When the config was last loaded successfully, at start or by a reload."),
		Conns:      newConns(f),
		packets:    newPackets(f),
		upstreams:  newHealth("ferry_upstream_up", "1 if the upstream proxy is healthy, 0 if not.", "upstream"),
		backends:   newHealth("ferry_backend_up", "1 if the reverse-proxy backend is healthy, 0 if not.", "route", "backend"),
		cacheUsage: newUsage(),
		limits:     newLimits(),
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ferry_tunnel_directions_parked",
		Help: "Directions of tunnels that are parked now: silent for a while, watched by ferry's own epoll instead of a goroutine (Linux)."},
		func() float64 { return float64(tunnel.ParkedDirections()) }))
	info := f.gaugeVec("ferry_build_info", "Version, commit and Go version ferry was built from; always 1.", "version", "commit", "goversion")
	info.WithLabelValues(version, commit, goVersion()).Set(1)
	m.reloadOK.Set(1)
	m.reloadTime.SetToCurrentTime()
	for _, r := range []string{"success", "failure"} {
		m.reloads.WithLabelValues(r) // present at 0 from the start
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.upstreams, m.backends, m.cacheUsage, m.limits,
	)
	return m
}

// Registry is the registry, for a feature registering collectors of its
// own (a cache's stored bytes as a GaugeFunc, say).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:            m.reg, // promhttp_metric_handler_errors_total
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// Write counts one finished request; it is the accesslog.Sink side.
func (m *Metrics) Write(r *accesslog.Record) {
	proto := r.Proto
	outcome := r.Outcome()
	m.requests.WithLabelValues(proto, outcome).Inc()
	if outcome == accesslog.OutcomeAuthFailed {
		m.authFailures.WithLabelValues(proto).Inc()
	}
	if r.Decision != "" {
		rule := r.Rule
		if rule == "" {
			rule = "none"
		}
		m.aclDecisions.WithLabelValues(rule, r.Decision).Inc()
	}
	if r.BytesUp > 0 {
		m.bytes.WithLabelValues(proto, "up").Add(float64(r.BytesUp))
	}
	if r.BytesDown > 0 {
		m.bytes.WithLabelValues(proto, "down").Add(float64(r.BytesDown))
	}
	if r.Dial > 0 {
		result := "ok"
		if r.Dialed == "" || r.DialFailed {
			result = "error"
		}
		m.dial.WithLabelValues(result).Observe(r.Dial.Seconds())
	}
	m.duration.WithLabelValues(proto).Observe(time.Since(r.Start).Seconds())
	if r.Packets != nil {
		m.packets.write(r)
	}
	if c := r.CacheResult(); c != accesslog.CacheNone {
		m.cacheReqs.WithLabelValues(c).Inc()
		m.cacheBytes.WithLabelValues(c).Add(float64(max(r.BytesDown, 0)))
	}
}

// Reloaded records the result of a config reload.
func (m *Metrics) Reloaded(ok bool) {
	if !ok {
		m.reloads.WithLabelValues("failure").Inc()
		m.reloadOK.Set(0)
		return
	}
	m.reloads.WithLabelValues("success").Inc()
	m.reloadOK.Set(1)
	m.reloadTime.SetToCurrentTime()
}
