package metrics

import (
	"io"
	"net"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// finish writes one record, built by mod, through m as the sink.
func finish(m *Metrics, mod func(r *accesslog.Record)) {
	r := accesslog.Start(m, "connect", netip.MustParseAddrPort("192.0.2.1:1"))
	mod(r)
	r.Finish()
}

func TestRequestMetrics(t *testing.T) {
	m := New("v1.2.3", "abc")
	// Three tunnels, one plain-HTTP cache hit, one miss, one denial by
	// rule, one DNS failure over SOCKS, one failed proxy authentication.
	for range 3 {
		finish(m, func(r *accesslog.Record) {
			r.Status, r.BytesUp, r.BytesDown, r.Dial, r.Dialed = 200, 100, 1000, 3*time.Millisecond, "192.0.2.9:443"
			r.Rule, r.Decision = "default", "allow"
		})
	}
	finish(m, func(r *accesslog.Record) {
		r.Proto, r.Status, r.BytesDown, r.Cache = "http", 200, 50, "hit; ttl=10"
	})
	finish(m, func(r *accesslog.Record) {
		r.Proto, r.Status, r.BytesDown, r.Cache, r.Dial, r.Dialed = "http", 200, 70, "fwd=uri-miss; fwd-status=200; stored", time.Millisecond, "192.0.2.9:80"
	})
	finish(m, func(r *accesslog.Record) {
		r.Status, r.ProxyStatus, r.Rule, r.Decision = 403, "http_request_denied", "block-ads", "deny"
	})
	finish(m, func(r *accesslog.Record) {
		r.Proto, r.Status, r.ProxyStatus, r.Dial = "socks5", 4, "dns_error", 2*time.Millisecond
	})
	finish(m, func(r *accesslog.Record) { r.Status = 407 })

	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"connect ok", testutil.ToFloat64(m.requests.WithLabelValues("connect", "ok")), 3},
		{"http ok", testutil.ToFloat64(m.requests.WithLabelValues("http", "ok")), 2},
		{"connect denied", testutil.ToFloat64(m.requests.WithLabelValues("connect", "http_request_denied")), 1},
		{"socks5 dns", testutil.ToFloat64(m.requests.WithLabelValues("socks5", "dns_error")), 1},
		{"connect auth", testutil.ToFloat64(m.requests.WithLabelValues("connect", "auth_failed")), 1},
		{"auth failures", testutil.ToFloat64(m.authFailures.WithLabelValues("connect")), 1},
		{"acl allow default", testutil.ToFloat64(m.aclDecisions.WithLabelValues("default", "allow")), 3},
		{"acl deny rule", testutil.ToFloat64(m.aclDecisions.WithLabelValues("block-ads", "deny")), 1},
		{"bytes up", testutil.ToFloat64(m.bytes.WithLabelValues("connect", "up")), 300},
		{"bytes down", testutil.ToFloat64(m.bytes.WithLabelValues("connect", "down")), 3000},
		{"http bytes down", testutil.ToFloat64(m.bytes.WithLabelValues("http", "down")), 120},
		{"cache hit", testutil.ToFloat64(m.cacheReqs.WithLabelValues("hit")), 1},
		{"cache miss", testutil.ToFloat64(m.cacheReqs.WithLabelValues("miss")), 1},
		{"cache hit bytes", testutil.ToFloat64(m.cacheBytes.WithLabelValues("hit")), 50},
		{"request series", float64(testutil.CollectAndCount(m.requests)), 5},
		{"dial series", float64(testutil.CollectAndCount(m.dial)), 2},
		{"duration series", float64(testutil.CollectAndCount(m.duration)), 3},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	// Dials: four ok (three tunnels, one miss), one failed.
	body := scrape(t, m)
	for _, want := range []string{
		`ferry_dial_duration_seconds_count{result="ok"} 4`,
		`ferry_dial_duration_seconds_count{result="error"} 1`,
		`ferry_request_duration_seconds_count{proto="connect"} 5`,
		`ferry_build_info{commit="abc",goversion="go`,
		"go_goroutines ",
		"process_open_fds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestConns(t *testing.T) {
	m := New("", "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	m.Conns.Name(ln, "main")
	o := m.Conns // as the front mux calls it (cmd/ferry wires it)
	o.Opened(ln, "http")
	o.Opened(ln, "http")
	o.Opened(ln, "socks")
	o.Refused(ln, "http")
	o.Closed(ln, "http")
	o.Opened(ln, "")
	o.Closed(ln, "")
	o.Opened(other, "socks") // an unnamed listener is labelled by address
	// A reverse listener, known by name.
	r := m.Conns.Named()
	r.Opened("edge", "tls")
	r.Opened("edge", "tls")
	r.Refused("edge", "tls")
	r.Closed("edge", "tls")

	c := m.Conns
	tests := []struct {
		name      string
		got, want float64
	}{
		{"accepted http", testutil.ToFloat64(c.accepted.WithLabelValues("main", "http")), 2},
		{"active http", testutil.ToFloat64(c.active.WithLabelValues("main", "http")), 1},
		{"active socks", testutil.ToFloat64(c.active.WithLabelValues("main", "socks")), 1},
		{"accepted none", testutil.ToFloat64(c.accepted.WithLabelValues("main", "none")), 1},
		{"active none", testutil.ToFloat64(c.active.WithLabelValues("main", "none")), 0},
		{"refused", testutil.ToFloat64(c.refused.WithLabelValues("main")), 1},
		{"unnamed", testutil.ToFloat64(c.accepted.WithLabelValues(other.Addr().String(), "socks")), 1},
		{"reverse accepted", testutil.ToFloat64(c.accepted.WithLabelValues("edge", "tls")), 2},
		{"reverse active", testutil.ToFloat64(c.active.WithLabelValues("edge", "tls")), 1},
		{"reverse refused", testutil.ToFloat64(c.refused.WithLabelValues("edge")), 1},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestHealth(t *testing.T) {
	m := New("", "")
	body := scrape(t, m)
	if strings.Contains(body, "ferry_backend_up{") || strings.Contains(body, "ferry_upstream_up{") {
		t.Errorf("health series with nothing registered:\n%s", body)
	}
	backends := []Health{
		{Group: "web", Name: "192.0.2.1:443", Up: true},
		{Group: "web", Name: "192.0.2.2:443", Up: false},
		{Group: "web", Name: "192.0.2.2:443", Up: false}, // duplicate: dropped, not a failed scrape
	}
	m.SetBackends(func() []Health { return backends })
	m.SetUpstreams(func() []Health { return []Health{{Name: "parent", Up: true}} })
	body = scrape(t, m)
	for _, want := range []string{
		`ferry_backend_up{backend="192.0.2.1:443",route="web"} 1`,
		`ferry_backend_up{backend="192.0.2.2:443",route="web"} 0`,
		`ferry_upstream_up{upstream="parent"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	// The function is asked at every scrape: a backend that went up shows.
	backends[1].Up = true
	if body = scrape(t, m); !strings.Contains(body, `ferry_backend_up{backend="192.0.2.2:443",route="web"} 1`) {
		t.Error("a changed state did not show at the next scrape")
	}
	m.SetBackends(nil)
	if body = scrape(t, m); strings.Contains(body, "ferry_backend_up{") {
		t.Error("backends still reported after SetBackends(nil)")
	}
}

func TestReloaded(t *testing.T) {
	m := New("", "")
	m.Reloaded(true)
	m.Reloaded(false)
	m.Reloaded(false)
	if got := testutil.ToFloat64(m.reloads.WithLabelValues("success")); got != 1 {
		t.Errorf("successes %v", got)
	}
	if got := testutil.ToFloat64(m.reloads.WithLabelValues("failure")); got != 2 {
		t.Errorf("failures %v", got)
	}
	if got := testutil.ToFloat64(m.reloadOK); got != 0 {
		t.Errorf("last reload successful = %v after a failure", got)
	}
	m.Reloaded(true)
	if got := testutil.ToFloat64(m.reloadOK); got != 1 {
		t.Errorf("last reload successful = %v after a success", got)
	}
}

func TestCacheUsage(t *testing.T) {
	m := New("", "")
	if body := scrape(t, m); strings.Contains(body, "ferry_cache_objects{") {
		t.Error("cache usage reported with no cache")
	}
	objects := 3
	m.SetCacheUsage(func() []StoreUsage {
		return []StoreUsage{{"memory", objects, 4096}, {"disk", 10, 1 << 20}}
	})
	objects = 4 // read at scrape time
	body := scrape(t, m)
	for _, want := range []string{
		`ferry_cache_objects{store="memory"} 4`,
		`ferry_cache_stored_bytes{store="memory"} 4096`,
		`ferry_cache_objects{store="disk"} 10`,
		`ferry_cache_stored_bytes{store="disk"} 1.048576e+06`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}
