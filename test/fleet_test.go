package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testnet"
)

// fleetConfig is one member of a fleet of three behind haproxy: PROXY v2
// from loopback (the balancer), limits shared through redis. Every test
// client is 127.0.0.1 (the PROXY header's), one client to the limits.
const fleetConfig = `
[[listener]]
name = "main"
address = "127.0.0.1:0"
proxy_protocol_from = ["127.0.0.1"]

[admin]
address = "127.0.0.1:0"

[acl]
default = "allow"

[fleet]
redis = "%s"
timeout = "250ms"             # a loaded test machine; 5ms by default
name = "ferry%d"

[[limit]]
name = "four-tunnels"
per = "client"
tunnels = 4
proto = "connect"
port = %d                     # the echo origin

[[limit]]
name = "daily-bytes"
per = "client"
bytes = "24MiB"
proto = "connect"
port = %d                     # the bulk origin

[[limit]]
name = "socks-fail-closed"
per = "client"
requests = 100000
on_store_error = "closed"
proto = "socks"
`

// fleet is three ferries, one redis and haproxy in front.
type fleet struct {
	redis   *testnet.Redis
	members []member
	lb      string
}

// startFleet starts redis, three ferries with the configs config gives
// (member i, redis's URL) and haproxy in front of them.
func startFleet(t *testing.T, config func(i int, redis string) string) *fleet {
	t.Helper()
	fl := &fleet{redis: startRedis(t)}
	for i := range 3 {
		f, admin := startOps(t, config(i, fl.redis.URL()))
		fl.members = append(fl.members, member{f: f, proxy: f.Addr, admin: admin})
	}
	fl.lb = startHAProxy(t, fl.members)
	return fl
}

// waitAny waits for an event with message msg that match holds for on
// any of the members, and returns the member's index.
func (fl *fleet) waitAny(t *testing.T, msg string, match func(Event) bool) int {
	t.Helper()
	deadline := time.After(eventTimeout)
	for {
		var grew []chan struct{}
		for i, m := range fl.members {
			m.f.mu.Lock()
			found := m.f.matching(msg, match)
			grew = append(grew, m.f.grew)
			m.f.mu.Unlock()
			if len(found) > 0 {
				return i
			}
		}
		select {
		case <-grew[0]:
		case <-grew[1]:
		case <-grew[2]:
		case <-deadline:
			t.Fatalf("no %q event on any member within %v", msg, eventTimeout)
		}
	}
}

// echo checks that a tunnel still carries bytes both ways.
func echo(c net.Conn) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	if string(b) != "ping" {
		return fmt.Errorf("echo %q", b)
	}
	return nil
}

// Three ferries behind haproxy with PROXY v2 and one redis-server (issue
// 18): the access log sees the client, a tunnel limit and a byte quota
// hold across the members, a killed member loses only its own tunnels
// while haproxy routes around it, and with redis killed each limit does
// as its on_store_error says until redis is back, by itself.
func TestFleetBehindHAProxy(t *testing.T) {
	o := startFleetOrigins(t)
	fl := startFleet(t, func(i int, redis string) string {
		return fmt.Sprintf(fleetConfig, redis, i, portOf(t, o.echo), portOf(t, o.bulk))
	})
	t.Run("PROXY v2: the access line names the client", func(t *testing.T) { fleetNamesClient(t, fl, o) })
	t.Run("a tunnel limit holds across the members", func(t *testing.T) { fleetTunnelLimit(t, fl, o) })
	t.Run("a byte quota holds across the members", func(t *testing.T) { fleetByteQuota(t, fl, o) })
	t.Run("a killed member loses only its tunnels", func(t *testing.T) { fleetMemberKilled(t, fl, o) })
	t.Run("redis killed: each limit as it says, then back by itself", func(t *testing.T) { fleetRedisKilled(t, fl, o) })
}

// fleetOrigins are TestFleetBehindHAProxy's origins: an echo, and a bulk
// one that sends as many bytes as were queued on bulkSize before each
// download (none: it closes).
type fleetOrigins struct {
	echo, bulk string
	bulkSize   chan int
}

func startFleetOrigins(t *testing.T) *fleetOrigins {
	o := &fleetOrigins{bulkSize: make(chan int, 4)}
	o.echo = tcpOrigin(t, func(c *net.TCPConn) { io.Copy(c, c) })
	o.bulk = tcpOrigin(t, func(c *net.TCPConn) {
		var n int
		select {
		case n = <-o.bulkSize: // queued before each download
		default: // a tunnel that should have been refused
			return
		}
		buf := bytes.Repeat([]byte{'b'}, 64<<10)
		for sent := 0; sent < n; sent += len(buf) {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
	return o
}

func fleetNamesClient(t *testing.T, fl *fleet, o *fleetOrigins) {
	c := connectTunnel(t, fl.lb, o.echo)
	if err := echo(c); err != nil {
		t.Fatal(err)
	}
	local := c.LocalAddr().String()
	c.Close()
	fl.waitAny(t, "access", func(e Event) bool { return e.Str("client") == local && e.Int("status") == 200 })
}

func fleetTunnelLimit(t *testing.T, fl *fleet, o *fleetOrigins) {
	var open []net.Conn
	for range 4 {
		open = append(open, connectTunnel(t, fl.lb, o.echo))
	}
	code, head, c := rawConnect(t, fl.lb, o.echo)
	c.Close()
	if code != http.StatusTooManyRequests || !strings.Contains(head, "four-tunnels") {
		t.Fatalf("a fifth tunnel through the fleet: %q, want 429 naming four-tunnels", head)
	}
	open[0].Close()
	// The slot is given back when the member handles the close; its
	// access line says it has.
	local := open[0].LocalAddr().String()
	fl.waitAny(t, "access", func(e Event) bool { return e.Str("client") == local })
	open = append(open[1:], connectTunnel(t, fl.lb, o.echo))
	served := map[int]bool{}
	for _, c := range open {
		if err := echo(c); err != nil {
			t.Error(err)
		}
		local := c.LocalAddr().String()
		c.Close()
		served[fl.waitAny(t, "access", func(e Event) bool { return e.Str("client") == local })] = true
	}
	if len(served) < 2 {
		t.Errorf("haproxy sent every tunnel to one member %v: the test proves nothing about sharing", served)
	}
}

// download moves what the bulk origin sends for size through the fleet.
func (o *fleetOrigins) download(t *testing.T, fl *fleet, size int) int64 {
	o.bulkSize <- size
	c := connectTunnel(t, fl.lb, o.bulk)
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	n, _ := io.Copy(io.Discard, c)
	return n
}

func fleetByteQuota(t *testing.T, fl *fleet, o *fleetOrigins) {
	if first := o.download(t, fl, 16<<20); first != 16<<20 {
		t.Fatalf("first download: %d bytes, want all 16 MiB (the quota is 24)", first)
	}
	second := o.download(t, fl, 256<<20)
	t.Logf("second download stopped after %.1f MiB (8 left of the fleet's 24 MiB quota)", float64(second)/(1<<20))
	if second < 8<<20 || second >= 20<<20 {
		t.Errorf("second download moved %.1f MiB: want it stopped near the 8 MiB the fleet has left (a member alone would allow 24)", float64(second)/(1<<20))
	}
	code, head, c := rawConnect(t, fl.lb, o.bulk)
	c.Close()
	if code != http.StatusTooManyRequests || !strings.Contains(head, "daily-bytes") {
		t.Errorf("a tunnel after the quota is spent: %q", head)
	}
}

func fleetMemberKilled(t *testing.T, fl *fleet, o *fleetOrigins) {
	var open []net.Conn
	for range 3 {
		open = append(open, connectTunnel(t, fl.lb, o.echo))
	}
	fl.members[1].f.Kill()
	alive, dead := 0, 0
	for _, c := range open {
		if err := echo(c); err != nil {
			dead++
		} else {
			alive++
		}
		c.Close()
	}
	if alive == 0 || dead == 0 {
		t.Errorf("%d tunnels alive, %d dead after one member of three was killed; want both", alive, dead)
	}
	// Every new tunnel gets through: haproxy routes around the dead
	// member (a refused connect is redispatched; its check fails). Its
	// slot lingers in redis until it lapses, so one at a time.
	for i := range 6 {
		c := connectTunnel(t, fl.lb, o.echo)
		if err := echo(c); err != nil {
			t.Errorf("tunnel %d after the kill: %v", i, err)
		}
		c.Close()
	}
}

// socksReplies sends n SOCKS5 CONNECTs to the echo origin through the
// fleet and fails t on a reply other than want.
func socksReplies(t *testing.T, fl *fleet, o *fleetOrigins, n int, want byte, when string) {
	t.Helper()
	for range n {
		rep, c := socks5Request(t, fl.lb, 1, socks5Addr(t, o.echo))
		c.Close()
		if rep != want {
			t.Errorf("SOCKS5 %s: reply %#x, want %#x", when, rep, want)
		}
	}
}

func fleetRedisKilled(t *testing.T, fl *fleet, o *fleetOrigins) {
	socksReplies(t, fl, o, 1, 0, "with redis up")
	fl.redis.Kill()
	// Fail open: tunnels go on, counted by each member alone.
	for range 3 {
		connectTunnel(t, fl.lb, o.echo).Close()
	}
	// Fail closed: refused while redis is down.
	socksReplies(t, fl, o, 3, 0x02, "with redis down under a fail-closed limit")
	var down []int
	for i, m := range fl.members {
		if i != 1 && len(m.f.Events("fleet: redis down; limits as their on_store_error says, the login throttle per ferry, until it is back")) > 0 {
			down = append(down, i)
		}
	}
	if len(down) == 0 {
		t.Fatal("no member logged redis going down")
	}
	fl.redis.Restart()
	for _, i := range down {
		// The first "redis up" was at start; the second is the
		// reconnection.
		fl.members[i].f.WaitEvents("fleet: redis up", nil, 2)
	}
	socksReplies(t, fl, o, 3, 0, "after redis came back")
}

// A client guessing passwords through the balancer gets the throttle's
// tries once for the fleet, not once per member (issue 18 item 3): with
// 3 failures a minute allowed, the fourth guess is refused (429) though
// no member has seen more than two of them.
func TestFleetThrottle(t *testing.T) {
	hash := bcryptOf(t, "right")
	fl := startFleet(t, func(i int, redis string) string {
		return fmt.Sprintf(`
[[listener]]
name = "main"
address = "127.0.0.1:0"
auth = true
proxy_protocol_from = ["127.0.0.1"]

[admin]
address = "127.0.0.1:0"

[auth.throttle]
client_failures = 3
user_failures = 100

[[auth.user]]
name = "alice"
bcrypt = %q

[acl]
default = "allow"

[fleet]
redis = %q
timeout = "250ms"
name = "ferry%d"
`, hash, redis, i)
	})
	origin := tcpOrigin(t, func(c *net.TCPConn) {})
	guess := func() (int, string) {
		c := dial(t, fl.lb)
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: Basic YWxpY2U6d3Jvbmc=\r\n\r\n", origin, origin) // alice:wrong
		code, head, err := readHead(c)
		c.Close()
		if err != nil {
			t.Fatalf("guess: %v", err)
		}
		return code, head
	}
	for i := range 3 {
		if code, head := guess(); code != http.StatusProxyAuthRequired {
			t.Fatalf("guess %d: %q, want 407", i, head)
		}
	}
	// The refusal names the fleet's count: the member that answers saw
	// at most two of the failures itself (haproxy spreads them).
	code, head := guess()
	if code != http.StatusTooManyRequests || !strings.Contains(head, "across the fleet") || !strings.Contains(head, "Retry-After:") {
		t.Fatalf("a fourth guess through the fleet: %q, want 429 from the fleet's count", head)
	}
}

// Under load from the load tool (ferry-bench's setup: CONNECT tunnels
// opened, echoed and closed at concurrency 16 through haproxy, each
// admitted by a limit in redis), a member killed mid-run costs only the
// tunnels it had open: haproxy sends the rest to the other members, and
// the tool's error count stays near the tunnels in flight.
func TestFleetMemberKilledUnderLoad(t *testing.T) {
	bench := buildBench(t)
	fl := startFleet(t, func(i int, redis string) string { return fmt.Sprintf(loadFleetConfig, redis, i) })
	const conc = 16
	out := runKillingMember(t, fl, bench, conc)
	rate, failed := setupFigures(t, out)
	t.Logf("%.0f tunnels/s through the fleet, %d failed with one member killed mid-run", rate, failed)
	// About the tunnels in flight on the member when it died (at most
	// the concurrency; a refused connect after it is redispatched). Were
	// haproxy not routing around it, a third of every later tunnel
	// would fail: hundreds.
	if failed > 2*conc {
		t.Errorf("%d tunnels failed: far more than the %d in flight at the kill", failed, conc)
	}
	for i, m := range fl.members {
		if i != 1 && len(m.f.Events("access")) == 0 {
			t.Errorf("member %d served nothing", i)
		}
	}
}

// loadFleetConfig is a member under load: every tunnel admitted by a
// limit in redis.
const loadFleetConfig = `
[[listener]]
name = "main"
address = "127.0.0.1:0"
proxy_protocol_from = ["127.0.0.1"]

[admin]
address = "127.0.0.1:0"

[acl]
default = "allow"

[log]
access = "stderr"

[fleet]
redis = %q
timeout = "250ms"
name = "ferry%d"

[[limit]]
name = "per-client"
per = "client"
tunnels = 100000
`

// buildBench builds the load tool.
func buildBench(t *testing.T) string {
	bench := filepath.Join(t.TempDir(), "ferry-bench")
	if out, err := exec.Command("go", "build", "-o", bench, "../cmd/ferry-bench").CombinedOutput(); err != nil {
		t.Fatalf("go build ferry-bench: %v\n%s", err, out)
	}
	return bench
}

// runKillingMember runs the load tool's setup test through the fleet at
// concurrency conc, kills member 1 inside its measured window, and
// returns the tool's JSON report.
func runKillingMember(t *testing.T, fl *fleet, bench string, conc int) string {
	cmd := exec.Command(bench, "-http-proxy", fl.lb, "-only", "setup", "-duration", "8s", "-rounds", "1",
		"-c", strconv.Itoa(conc), "-json", "-q")
	var out, errs strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill member 1 inside the measured window: after the direct
	// baseline and the proxy's warm-up (a fifth of the round, 1s at
	// most), once every member has served 500 tunnels (~1.5 s at this
	// machine's rate; a machine three times slower still kills inside
	// the 8 s window).
	for _, m := range fl.members {
		m.f.WaitEvents("access", func(e Event) bool { return e.Int("status") == 200 }, 500)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	fl.members[1].f.Kill()
	select {
	case <-done:
		t.Fatal("the load run ended before the member was killed: the test proves nothing")
	default:
	}
	if err := <-done; err != nil {
		t.Fatalf("ferry-bench: %v\n%s", err, errs.String())
	}
	return out.String()
}

// setupFigures reads the CONNECT setup rate and its error count from the
// load tool's JSON report.
func setupFigures(t *testing.T, out string) (rate float64, failed int64) {
	var rep struct {
		Metrics []struct {
			ID     string   `json:"id"`
			Proxy  *float64 `json:"proxy"`
			Errors int64    `json:"errors"`
		} `json:"metrics"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("ferry-bench output: %v\n%s", err, out)
	}
	failed = -1
	for _, m := range rep.Metrics {
		if m.ID == "setup.connect.rate" && m.Proxy != nil {
			rate, failed = *m.Proxy, m.Errors
		}
	}
	if failed < 0 || rate == 0 {
		t.Fatalf("no CONNECT setup figure in ferry-bench's report:\n%s", out)
	}
	return rate, failed
}
