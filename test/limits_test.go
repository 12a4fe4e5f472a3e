package test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// limitsConfig allows everything and limits each client to one tunnel at
// once, two plain-HTTP requests a minute and 8 MiB a day.
const limitsConfig = `
[[listener]]
name = "main"
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"

[acl]
default = "allow"

[[limit]]
name = "one-tunnel"
per = "client"
tunnels = 1
proto = ["connect", "socks"]

[[limit]]
name = "two-a-minute"
per = "client"
requests = 2
window = "1m"
proto = "http"

[[limit]]
name = "daily-bytes"
per = "client"
bytes = "8MiB"
proto = ["connect", "socks"]
`

// Over a limit (issue 18 item 2): CONNECT gets 429 with Retry-After and a
// Proxy-Status naming the limit, SOCKS5 reply 0x02, and the access line
// names it; a slot given back is taken again; the metrics count it.
func TestLimitsAnswers(t *testing.T) {
	f, admin := startOps(t, limitsConfig)
	origin := tcpOrigin(t, func(c *net.TCPConn) { io.Copy(io.Discard, c) })

	held := connectTunnel(t, f.Addr, origin)
	code, head, c := rawConnect(t, f.Addr, origin)
	c.Close()
	if code != http.StatusTooManyRequests {
		t.Fatalf("second CONNECT: %q, want 429", head)
	}
	if !strings.Contains(head, "Retry-After: 1\r\n") || !strings.Contains(head, `error=http_request_denied`) ||
		!strings.Contains(head, `limit \"one-tunnel\"`) {
		t.Errorf("429 head lacks Retry-After or a Proxy-Status naming the limit:\n%s", head)
	}
	ev := f.WaitEvent("access", func(e Event) bool { return e.Int("status") == 429 })
	if !strings.Contains(ev.Str("err"), `limit "one-tunnel"`) || ev.Str("proxy_status") != "http_request_denied" {
		t.Errorf("access line %v does not name the limit", ev)
	}
	rep, s := socks5Request(t, f.Addr, 1, socks5Addr(t, origin))
	s.Close()
	if rep != 0x02 {
		t.Errorf("SOCKS5 over the limit: reply %#x, want 0x02", rep)
	}
	held.Close()
	// The slot comes back once the tunnel's end is handled.
	f.WaitEvent("access", func(e Event) bool { return e.Int("status") == 200 })
	again := connectTunnel(t, f.Addr, origin)
	again.Close()

	// Plain HTTP: two requests a minute, then 429 with what is left of
	// the minute.
	webSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	t.Cleanup(webSrv.Close)
	web := webSrv.Listener.Addr().String()
	for i := range 3 {
		c := dial(t, f.Addr)
		fmt.Fprintf(c, "GET http://%s/ HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", web, web)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		want := http.StatusOK
		if i == 2 {
			want = http.StatusTooManyRequests
		}
		if resp.StatusCode != want {
			t.Fatalf("plain-HTTP request %d: %d, want %d", i, resp.StatusCode, want)
		}
		if i == 2 {
			ra := resp.Header.Get("Retry-After")
			if ra == "" || ra == "0" || !strings.Contains(resp.Header.Get("Proxy-Status"), "two-a-minute") {
				t.Errorf("429 headers %v", resp.Header)
			}
		}
	}
	ms, ok := waitMetrics(t, admin, 10*time.Second, func(ms metrics) bool {
		return ms.val("ferry_limit_refused_total", "limit", "one-tunnel", "kind", "tunnels") >= 2 &&
			ms.val("ferry_limit_refused_total", "limit", "two-a-minute", "kind", "requests") >= 1
	})
	if !ok {
		t.Errorf("refusals not counted per limit: %v", ms)
	}
}

// A byte quota stops a download while it runs, near the quota, not when
// it ends; the next tunnel is refused until the period ends.
func TestQuotaStopsDownload(t *testing.T) {
	f := startFerry(t, limitsConfig)
	const size = 256 << 20
	origin := tcpOrigin(t, func(c *net.TCPConn) {
		buf := bytes.Repeat([]byte{'x'}, 64<<10)
		for n := 0; n < size; n += len(buf) {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
	c := connectTunnel(t, f.Addr, origin)
	c.SetDeadline(time.Now().Add(time.Minute))
	got, _ := io.Copy(io.Discard, c)
	t.Logf("moved %.1f MiB through a tunnel with a quota of 8 MiB", float64(got)/(1<<20))
	c.Close()
	if got < 8<<20 || got > 64<<20 {
		t.Errorf("moved %d MiB through a tunnel with a quota of 8 MiB (of %d MiB sent): want it stopped near the quota",
			got>>20, size>>20)
	}
	ev := f.WaitEvent("access", func(e Event) bool { return e.Int("status") == 200 })
	if !strings.Contains(ev.Str("err"), `limit "daily-bytes"`) {
		t.Errorf("access line of the stopped tunnel: %v", ev)
	}
	code, head, c2 := rawConnect(t, f.Addr, origin)
	c2.Close()
	if code != http.StatusTooManyRequests || !strings.Contains(head, "daily-bytes") {
		t.Errorf("a tunnel after the quota is spent: %q", head)
	}
}

// A plain-HTTP response is counted as its body goes: a download larger
// than what is left of the quota is cut near the quota, and the access
// line names the limit.
func TestQuotaStopsPlainHTTPDownload(t *testing.T) {
	f := startFerry(t, `
[[listener]]
name = "main"
address = "127.0.0.1:0"

[acl]
default = "allow"

[[limit]]
name = "http-bytes"
per = "client"
bytes = "8MiB"
`)
	const size = 256 << 20
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		buf := bytes.Repeat([]byte{'x'}, 64<<10)
		for n := 0; n < size; n += len(buf) {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	}))
	t.Cleanup(web.Close)
	c := dial(t, f.Addr)
	c.SetDeadline(time.Now().Add(time.Minute))
	host := web.Listener.Addr().String()
	fmt.Fprintf(c, "GET http://%s/big HTTP/1.1\r\nHost: %s\r\n\r\n", host, host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.Copy(io.Discard, resp.Body)
	c.Close()
	t.Logf("a plain-HTTP download with a quota of 8 MiB moved %.1f MiB", float64(got)/(1<<20))
	if got < 8<<20 || got > 64<<20 {
		t.Errorf("moved %d MiB of %d: want it cut near the 8 MiB quota", got>>20, size>>20)
	}
	ev := f.WaitEvent("access", func(e Event) bool { return e.Str("url") == "http://"+host+"/big" })
	if !strings.Contains(ev.Str("err"), `limit "http-bytes"`) {
		t.Errorf("access line: %v", ev)
	}
	// The next request is refused: the quota is spent.
	c = dial(t, f.Addr)
	fmt.Fprintf(c, "GET http://%s/small HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host, host)
	resp, err = http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("after the quota: %v %v, want 429", resp, err)
	}
}

// A reload swaps the [[limit]] rules (the counters stay: tunnels open
// keep their slots) and the listeners' proxy_protocol_from; it refuses a
// change of [fleet], which is set up at start.
func TestLimitsReload(t *testing.T) {
	const base = `
[[listener]]
name = "main"
address = "127.0.0.1:0"
%s

[acl]
default = "allow"

[[limit]]
name = "tunnels"
per = "client"
tunnels = %d
`
	f := startFerry(t, fmt.Sprintf(base, "", 1))
	origin := tcpOrigin(t, func(c *net.TCPConn) { io.Copy(io.Discard, c) })
	held := connectTunnel(t, f.Addr, origin)
	defer held.Close()
	if code, head, c := rawConnect(t, f.Addr, origin); code != http.StatusTooManyRequests {
		c.Close()
		t.Fatalf("a second tunnel under tunnels = 1: %q", head)
	}
	if ev := f.Reload(fmt.Sprintf(base, "", 2)); ev["ok"] != true {
		t.Fatalf("reload: %v", ev)
	}
	second := connectTunnel(t, f.Addr, origin) // the held one still counts: 2 of 2
	defer second.Close()
	if code, head, c := rawConnect(t, f.Addr, origin); code != http.StatusTooManyRequests {
		c.Close()
		t.Fatalf("a third tunnel under tunnels = 2, one held across the reload: %q", head)
	}

	ev := f.Reload(fmt.Sprintf(base, "", 2) + "\n[fleet]\nredis = \"redis://127.0.0.1:1/0\"\n")
	if ev["ok"] != false || !strings.Contains(ev.Str("err"), "[fleet] cannot change on reload") {
		t.Errorf("a reload that adds a fleet: %v, want refused", ev)
	}

	if ev := f.Reload(fmt.Sprintf(base, `proxy_protocol_from = ["127.0.0.1"]`, 10)); ev["ok"] != true {
		t.Fatalf("reload: %v", ev)
	}
	c := dial(t, f.Addr)
	fmt.Fprintf(c, "PROXY TCP4 203.0.113.9 127.0.0.1 5000 8080\r\nCONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", origin, origin)
	if code, head, err := readHead(c); err != nil || code != http.StatusOK {
		t.Fatalf("CONNECT behind a balancer named by a reload: %q, %v", head, err)
	}
	c.Close()
	f.WaitEvent("access", func(e Event) bool { return e.Str("client") == "203.0.113.9:5000" })
}

// SOCKS5 UDP ASSOCIATE and BIND are admitted like tunnels (issue 18
// review, High 3): an association holds a tunnel slot while its control
// connection is open; another association or a BIND over the limit gets
// 0x02 and an access line naming it.
func TestLimitsUDPAndBind(t *testing.T) {
	f := startFerry(t, `
[[listener]]
name = "main"
address = "127.0.0.1:0"

[acl]
default = "allow"

[[limit]]
name = "one-anything"
per = "client"
tunnels = 1
`)
	held := socks5Associate(t, f.Addr)
	for i, cmd := range []byte{3, 2} { // UDP ASSOCIATE, BIND
		rep, c := socks5Request(t, f.Addr, cmd, []byte{1, 127, 0, 0, 1, 0, 21})
		c.Close()
		if rep != 0x02 {
			t.Errorf("SOCKS5 command %d over the limit: reply %#x, want 0x02", cmd, rep)
		}
		evs := f.WaitEvents("access", func(e Event) bool { return strings.Contains(e.Str("err"), `limit "one-anything"`) }, i+1)
		if ev := evs[i]; ev.Str("proxy_status") != "http_request_denied" {
			t.Errorf("access line %v", evs[i])
		}
	}
	held.ctrl.Close()
	f.WaitEvent("access", func(e Event) bool { return e.Str("method") == "UDP_ASSOCIATE" && e.Str("err") == "" })
	again := socks5Associate(t, f.Addr)
	again.ctrl.Close()
}
