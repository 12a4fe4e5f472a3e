package test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// TestMetricsFromFeatures: authentication failures, ACL rule verdicts,
// cache hits and misses, and reverse backends' health reach /metrics,
// with the features configured as an operator would.
func TestMetricsFromFeatures(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "cacheable")
	}))
	t.Cleanup(origin.Close)
	// down on 127.0.0.2: a freed port on 127.0.0.1 can become one of
	// ferry's own listeners (a backend that loops back to ferry).
	up, down := echoOrigin(t), closedPortOn(t, "127.0.0.2")
	f, admin := startOps(t, fmt.Sprintf(`
[[listener]]
name = "main"
address = "127.0.0.1:0"
auth = true

[[auth.user]]
name = "alice"
bcrypt = %q

[acl]
default = "deny"

[[acl.rule]]
name = "block-ads"
action = "deny"
domain = "ads.test"

[[acl.rule]]
name = "loopback-origins"
action = "allow"
ip = "127.0.0.1"

[cache]
enabled = true

[admin]
address = "127.0.0.1:0"

[[reverse]]
name = "edge"
address = "127.0.0.1:0"
mode = "tcp"
  [[reverse.route]]
  name = "good"
  backends = [{ address = %q }]

[[reverse]]
name = "dead"
address = "127.0.0.1:0"
mode = "tcp"
  [[reverse.route]]
  name = "gone"
  backends = [{ address = %q }]
  [reverse.route.health]
  interval = "50ms"
  fall = 1
`, bcryptOf(t, "secret"), up, down))
	proxy := f.AddrOf("main")

	// No credentials: 407. Wrong SOCKS5 password: RFC 1929 failure.
	if code, _, c := rawConnect(t, proxy, up); code != http.StatusProxyAuthRequired {
		t.Fatalf("CONNECT without credentials: %d", code)
	} else {
		c.Close()
	}
	c := dial(t, proxy)
	c.Write([]byte{5, 1, 2})
	sel := make([]byte, 2)
	if _, err := io.ReadFull(c, sel); err != nil || sel[1] != 2 {
		t.Fatalf("SOCKS5 method %v %v", sel, err)
	}
	c.Write(append(append([]byte{1, 5}, "alice"...), append([]byte{5}, "wrong"...)...))
	st := make([]byte, 2)
	if _, err := io.ReadFull(c, st); err != nil || st[1] == 0 {
		t.Fatalf("SOCKS5 auth with a wrong password: %v %v", st, err)
	}
	c.Close()

	// With credentials: a denial by a named rule, then a cache miss and hit.
	client := &http.Client{Timeout: ioTimeout, Transport: &http.Transport{
		Proxy: http.ProxyURL(&url.URL{Scheme: "http", User: url.UserPassword("alice", "secret"), Host: proxy})}}
	t.Cleanup(client.CloseIdleConnections)
	resp, _ := get(t, client, t.Context(), "http://ads.test/banner")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("blocked name: %d", resp.StatusCode)
	}
	for i := range 2 {
		if resp, body := get(t, client, t.Context(), origin.URL+"/page"); resp.StatusCode != 200 || body != "cacheable" {
			t.Fatalf("GET %d: %d %q", i, resp.StatusCode, body)
		}
	}
	f.WaitEvents("access", nil, 5)

	ms, ok := waitMetrics(t, admin, eventTimeout, func(ms metrics) bool {
		v, ok := ms.get("ferry_backend_up", "route", "dead/gone", "backend", down)
		return ok && v == 0
	})
	if !ok {
		t.Errorf("the unreachable backend is not reported down")
	}
	tests := []struct {
		name      string
		got, want float64
	}{
		{"http auth failures", ms.val("ferry_auth_failures_total", "proto", "connect"), 1},
		{"socks5 auth failures", ms.val("ferry_auth_failures_total", "proto", "socks5"), 1},
		{"requests auth_failed", ms.val("ferry_requests_total", "proto", "connect", "outcome", "auth_failed"), 1},
		{"rule deny", ms.val("ferry_acl_decisions_total", "rule", "block-ads", "action", "deny"), 1},
		{"denied requests", ms.val("ferry_requests_total", "proto", "http", "outcome", "http_request_denied"), 1},
		{"rule allow", ms.val("ferry_acl_decisions_total", "rule", "loopback-origins", "action", "allow"), 2}, // the hit is authorized too
		{"cache miss", ms.val("ferry_cache_requests_total", "result", "miss"), 1},
		{"cache hit", ms.val("ferry_cache_requests_total", "result", "hit"), 1},
		{"cache hit bytes", ms.val("ferry_cache_bytes_total", "result", "hit"), float64(len("cacheable"))},
		{"cache objects in memory", ms.val("ferry_cache_objects", "store", "memory"), 1},
		{"backend up", ms.val("ferry_backend_up", "route", "edge/good", "backend", up), 1},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

// TestMetricsReverseListener: a reverse listener's connections are
// counted by listener like the forward listeners' (issue 8): accepted and
// active by mode, and a refusal over its max_conns.
func TestMetricsReverseListener(t *testing.T) {
	echo := echoOrigin(t)
	f, admin := startOps(t, opsConfig+fmt.Sprintf(`
[[reverse]]
name = "capped"
address = "127.0.0.1:0"
mode = "tcp"
max_conns = 1
  [[reverse.route]]
  backends = [{ address = %q }]
`, echo))
	addr := f.AddrOf("capped")
	active := func(ms metrics) float64 {
		return ms.val("ferry_connections_active", "listener", "capped", "protocol", "tcp")
	}

	held := dial(t, addr)
	held.SetDeadline(time.Now().Add(ioTimeout))
	echoRoundTrip(t, held, "through the reverse listener")
	if _, ok := waitMetrics(t, admin, eventTimeout, func(ms metrics) bool { return active(ms) == 1 }); !ok {
		t.Fatalf("one reverse connection open, but not reported active")
	}

	// A second connection is over max_conns: closed at once, counted.
	over := dial(t, addr)
	over.SetReadDeadline(time.Now().Add(ioTimeout))
	if n, err := over.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("connection over max_conns: read %d, %v; want EOF", n, err)
	}
	over.Close()
	held.Close()
	f.WaitEvents("access", func(e Event) bool { return e.Str("proto") == "tcp" }, 2)

	ms, ok := waitMetrics(t, admin, eventTimeout, func(ms metrics) bool { return active(ms) == 0 })
	if !ok {
		t.Errorf("reverse connections still active after every client closed")
	}
	tests := []struct {
		name      string
		got, want float64
	}{
		{"accepted", ms.val("ferry_connections_accepted_total", "listener", "capped", "protocol", "tcp"), 2},
		{"refused", ms.val("ferry_connections_refused_total", "listener", "capped"), 1},
		{"forward listener untouched", ms.val("ferry_connections_accepted_total", "listener", "main", "protocol", "http"), 0},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}
