package test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMetricsAfterTraffic: after known traffic through the real binary,
// /metrics has moved by exactly that much.
func TestMetricsAfterTraffic(t *testing.T) {
	f, admin := startOps(t, opsConfig)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	t.Cleanup(origin.Close)
	echo := echoOrigin(t)

	const nHTTP, nConnect, nSOCKS = 5, 4, 3
	client := proxyClient(t, f.Addr, &http.Transport{DisableKeepAlives: true})
	for i := range nHTTP {
		resp, body := get(t, client, t.Context(), fmt.Sprintf("%s/%d", origin.URL, i))
		if resp.StatusCode != 200 || body != "hello" {
			t.Fatalf("GET: %d %q", resp.StatusCode, body)
		}
	}
	var connectBytes, socksBytes int64
	for i := range nConnect {
		msg := fmt.Sprintf("connect tunnel %d", i)
		c := connectTunnel(t, f.Addr, echo)
		echoRoundTrip(t, c, msg)
		c.Close()
		connectBytes += int64(len(msg))
	}
	for i := range nSOCKS {
		msg := fmt.Sprintf("socks tunnel number %d", i)
		c := socks5Tunnel(t, f.Addr, echo)
		echoRoundTrip(t, c, msg)
		c.Close()
		socksBytes += int64(len(msg))
	}
	code, _, c := rawConnect(t, f.Addr, closedPort(t))
	if code != http.StatusBadGateway {
		t.Fatalf("CONNECT to a closed port: %d, want 502", code)
	}
	c.Close()
	const total = nHTTP + nConnect + nSOCKS + 1
	f.WaitEvents("access", nil, total) // counted before logged: the scrape sees them all

	ms, ok := waitMetrics(t, admin, eventTimeout, func(ms metrics) bool {
		return ms.val("ferry_connections_active", "listener", "main", "protocol", "http") == 0 &&
			ms.val("ferry_connections_active", "listener", "main", "protocol", "socks") == 0
	})
	if !ok {
		t.Errorf("connections still active after every client closed")
	}
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"http requests ok", ms.val("ferry_requests_total", "proto", "http", "outcome", "ok"), nHTTP},
		{"connect tunnels ok", ms.val("ferry_requests_total", "proto", "connect", "outcome", "ok"), nConnect},
		{"connect refused", ms.val("ferry_requests_total", "proto", "connect", "outcome", "connection_refused"), 1},
		{"socks5 tunnels ok", ms.val("ferry_requests_total", "proto", "socks5", "outcome", "ok"), nSOCKS},
		{"connect bytes up", ms.val("ferry_bytes_total", "proto", "connect", "direction", "up"), float64(connectBytes)},
		{"connect bytes down", ms.val("ferry_bytes_total", "proto", "connect", "direction", "down"), float64(connectBytes)},
		{"socks5 bytes up", ms.val("ferry_bytes_total", "proto", "socks5", "direction", "up"), float64(socksBytes)},
		{"socks5 bytes down", ms.val("ferry_bytes_total", "proto", "socks5", "direction", "down"), float64(socksBytes)},
		{"http conns accepted", ms.val("ferry_connections_accepted_total", "listener", "main", "protocol", "http"), nHTTP + nConnect + 1},
		{"socks conns accepted", ms.val("ferry_connections_accepted_total", "listener", "main", "protocol", "socks"), nSOCKS},
		{"acl allow", ms.val("ferry_acl_decisions_total", "rule", "default", "action", "allow"), total},
		{"dials failed", ms.val("ferry_dial_duration_seconds_count", "result", "error"), 1},
		{"connect durations", ms.val("ferry_request_duration_seconds_count", "proto", "connect"), nConnect + 1},
		{"no auth failures", ms.val("ferry_auth_failures_total", "proto", "connect"), 0},
		{"reloads", ms.val("ferry_config_reloads_total", "result", "success"), 0},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	// Plain HTTP reuses pooled origin connections: at least one dial for
	// the five requests, at most five.
	if n := ms.val("ferry_dial_duration_seconds_count", "result", "ok"); n < nConnect+nSOCKS+1 || n > total-1 {
		t.Errorf("dials ok = %v, want between %d and %d", n, nConnect+nSOCKS+1, total-1)
	}
	if down := ms.val("ferry_bytes_total", "proto", "http", "direction", "down"); down < float64(nHTTP*len("hello")) {
		t.Errorf("http bytes down %v, want at least %d", down, nHTTP*len("hello"))
	}
	for _, name := range []string{"go_goroutines", "process_open_fds", "go_memstats_heap_inuse_bytes"} {
		if v, ok := ms.get(name); !ok || v <= 0 {
			t.Errorf("%s = %v, %v; want present and positive", name, v, ok)
		}
	}
	for _, s := range ms {
		for k, v := range s.labels {
			if strings.Contains(v, "127.0.0.1") && s.name != "ferry_build_info" {
				t.Errorf("%s has an address in label %s=%q: labels must be bounded", s.name, k, v)
			}
		}
	}

	// Reloads, good and bad, are counted.
	for _, tt := range []struct {
		config string
		ok     bool
	}{{opsConfig, true}, {opsConfig + "\n[limits]\nmax_conns = -1\n", false}} {
		f.Reload(tt.config)
	}
	// The counters move just after the reload event is logged.
	reloads := func(ms metrics) (float64, float64, float64) {
		return ms.val("ferry_config_reloads_total", "result", "success"), ms.val("ferry_config_reloads_total", "result", "failure"),
			ms.val("ferry_config_last_reload_successful")
	}
	ms, _ = waitMetrics(t, admin, eventTimeout, func(ms metrics) bool {
		s, fl, last := reloads(ms)
		return s == 1 && fl == 1 && last == 0
	})
	if s, fl, last := reloads(ms); s != 1 || fl != 1 || last != 0 {
		t.Errorf("reloads: %v successes, %v failures, last successful %v; want 1, 1, 0", s, fl, last)
	}
}

// TestAdminEndpoints: the admin listener serves health, readiness,
// metrics, pprof and the PAC; the proxy port serves none of them but the
// PAC.
func TestAdminEndpoints(t *testing.T) {
	f, admin := startOps(t, opsConfig)
	tests := []struct {
		path  string
		code  int
		ctype string
		body  string
	}{
		{"/healthz", 200, "text/plain", "ok"},
		{"/readyz", 200, "text/plain", "ready"},
		{"/metrics", 200, "text/plain", "ferry_build_info"},
		{"/debug/pprof/", 200, "text/html", "goroutine"},
		{"/debug/pprof/goroutine?debug=1", 200, "text/plain", "goroutine profile"},
		{"/proxy.pac", 200, "application/x-ns-proxy-autoconfig", "FindProxyForURL"},
		{"/wpad.dat", 200, "application/x-ns-proxy-autoconfig", "FindProxyForURL"},
		{"/nope", 404, "text/plain", ""},
	}
	for _, tt := range tests {
		t.Run("admin "+tt.path, func(t *testing.T) {
			code, h, body := adminGet(t, admin, tt.path)
			if code != tt.code || !strings.HasPrefix(h.Get("Content-Type"), tt.ctype) || !strings.Contains(body, tt.body) {
				t.Errorf("GET %s: %d %q %.80q; want %d %q %q", tt.path, code, h.Get("Content-Type"), body, tt.code, tt.ctype, tt.body)
			}
		})
	}
	// The proxy port is not the admin listener: only the PAC is there.
	for _, tt := range []struct {
		path string
		code int
	}{{"/metrics", 400}, {"/debug/pprof/", 400}, {"/healthz", 400}, {"/proxy.pac", 200}} {
		code, _, _ := adminGet(t, f.Addr, tt.path)
		if code != tt.code {
			t.Errorf("proxy port GET %s: %d, want %d", tt.path, code, tt.code)
		}
	}
}

// TestAdminRefusesNonLoopback: a config putting the admin listener where
// other machines reach it is refused unless explicitly allowed.
func TestAdminRefusesNonLoopback(t *testing.T) {
	path := writeConfig(t, minimalConfig+"\n[admin]\naddress = \"0.0.0.0:0\"\n")
	code, _, stderr := runFerry(t, "-config", path)
	if code != 2 || !strings.Contains(stderr, "admin.address") || !strings.Contains(stderr, "not a loopback address") {
		t.Errorf("exit %d, stderr %q; want 2 naming admin.address", code, stderr)
	}
}

// TestReadyzDuringDrain: /readyz turns 503 as soon as ferry starts
// draining, while an open tunnel keeps working and /healthz stays 200.
func TestReadyzDuringDrain(t *testing.T) {
	f, admin := startOps(t, opsConfig+"\n[limits]\nshutdown_grace = \"60s\"\n")
	if code, _, _ := adminGet(t, admin, "/readyz"); code != 200 {
		t.Fatalf("/readyz before the drain: %d", code)
	}
	c := connectTunnel(t, f.Addr, echoOrigin(t))
	echoRoundTrip(t, c, "before")

	f.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(eventTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		code, _, body := adminGet(t, admin, "/readyz")
		if code == http.StatusServiceUnavailable {
			if !strings.Contains(body, "draining") {
				t.Errorf("/readyz 503 body %q, want draining", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %v after SIGTERM", code, eventTimeout)
		}
		<-tick.C
	}
	if code, _, _ := adminGet(t, admin, "/healthz"); code != 200 {
		t.Errorf("/healthz during the drain: %d, want 200", code)
	}
	echoRoundTrip(t, c, "during the drain")
	c.Close()
	if code := f.WaitExit(); code != 0 {
		t.Errorf("exit %d", code)
	}
}
