package test

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
)

// source_hash: a client address keeps its backend across connections, and
// different addresses spread over the pool.
func TestReverseAffinity(t *testing.T) {
	var addrs []string
	for _, n := range []string{"X", "Y", "Z"} {
		addrs = append(addrs, fmt.Sprintf("{ address = %q }", startRevBackend(t, n, nil, false).addr))
	}
	f := startReverse(t, revHead+fmt.Sprintf(`
[[reverse]]
name = "tcp"
address = "127.0.0.1:0"
mode = "tcp"
  [[reverse.route]]
  policy = "source_hash"
  backends = [%s]
`, strings.Join(addrs, ", ")))
	tcp := f.AddrOf("tcp")
	used := map[string]bool{}
	for i := 1; i <= 12; i++ {
		src := fmt.Sprintf("127.0.0.%d", i)
		first := ""
		for range 4 {
			g := revDialTCPFrom(t, src, tcp)
			if first == "" {
				first = g
			} else if g != first {
				t.Fatalf("client %s went to %s, then to %s", src, first, g)
			}
		}
		used[first] = true
	}
	if len(used) < 2 {
		t.Fatalf("12 client addresses all hashed to %v", used)
	}
}

// A backend stopped behind an active check is taken out; connections keep
// working on the others.
func TestReverseFailover(t *testing.T) {
	a := startRevBackend(t, "A", nil, false)
	b := startRevBackend(t, "B", nil, false)
	f := startReverse(t, revHead+fmt.Sprintf(`
[[reverse]]
name = "tcp"
address = "127.0.0.1:0"
mode = "tcp"
  [[reverse.route]]
  name = "pool"
  backends = [{ address = %q }, { address = %q }]
  [reverse.route.health]
  interval = "50ms"
  fall = 1
`, a.addr, b.addr))
	tcp := f.AddrOf("tcp")
	seen := map[string]bool{}
	for range 4 {
		seen[revDialTCPFrom(t, "127.0.0.1", tcp)] = true
	}
	if !seen["A"] || !seen["B"] {
		t.Fatalf("round robin over two backends reached %v", seen)
	}
	a.stop()
	f.WaitEvent("backend down", func(e Event) bool { return e.Str("backend") == a.addr })
	for i := range 6 {
		if g := revDialTCPFrom(t, "127.0.0.1", tcp); g != "B" {
			t.Fatalf("connection %d after A stopped reached %q", i, g)
		}
	}
}

// A first choice that fails to dial is retried on the next backend, and
// the failure takes it down (passive health) without any active check.
func TestReverseRetryPassive(t *testing.T) {
	a := startRevBackend(t, "A", nil, false)
	b := startRevBackend(t, "B", nil, false)
	a.stop() // refused from the start; no active check will notice
	f := startReverse(t, revHead+fmt.Sprintf(`
[[reverse]]
name = "tcp"
address = "127.0.0.1:0"
mode = "tcp"
  [[reverse.route]]
  backends = [{ address = %q }, { address = %q }]
  [reverse.route.health]
  check = "none"
  fail_timeout = "1h"
`, a.addr, b.addr))
	tcp := f.AddrOf("tcp")
	for i := range 4 {
		if g := revDialTCPFrom(t, "127.0.0.1", tcp); g != "B" {
			t.Fatalf("connection %d reached %q", i, g)
		}
	}
	f.WaitEvent("backend down", func(e Event) bool {
		return e.Str("backend") == a.addr && strings.Contains(fmt.Sprint(e["err"]), "passive")
	})
	if n := len(f.Events("backend down")); n != 1 {
		t.Fatalf("%d backend down events, want 1: A is skipped once down", n)
	}
}

// With every backend down the client is closed cleanly and the log says
// why: first the failed dial, then "no healthy backend".
func TestReverseAllDown(t *testing.T) {
	a := startRevBackend(t, "A", nil, false)
	a.stop()
	f := startReverse(t, revHead+fmt.Sprintf(`
[[reverse]]
name = "tcp"
address = "127.0.0.1:0"
mode = "tcp"
  [[reverse.route]]
  name = "only"
  backends = [{ address = %q }]
  [reverse.route.health]
  interval = "1h"
`, a.addr))
	tcp := f.AddrOf("tcp")
	for i := range 2 {
		c := dial(t, tcp)
		n, err := c.Read(make([]byte, 16))
		if n != 0 || err != io.EOF {
			t.Fatalf("connection %d: read %d bytes, %v; want a clean close (EOF)", i, n, err)
		}
		c.Close()
	}
	only := func(e Event) bool { return e.Str("route") == "only" }
	first := f.WaitEvent("access", only)
	if first["proxy_status"] != "connection_refused" || first["status"] != float64(502) {
		t.Fatalf("first: %v", first)
	}
	second := f.WaitEvents("access", only, 2)[1]
	if second["proxy_status"] != "destination_unavailable" || second["status"] != float64(503) ||
		!strings.Contains(fmt.Sprint(second["err"]), "no healthy backend") {
		t.Fatalf("second: %v", second)
	}
}

// max_conns_per_ip: the third connection from one address is closed while
// two are open; another address is not affected, and a slot frees on close.
func TestReversePerIPCap(t *testing.T) {
	a := startRevBackend(t, "A", nil, false)
	f := startReverse(t, revHead+fmt.Sprintf(`
[[reverse]]
name = "tcp"
address = "127.0.0.1:0"
mode = "tcp"
max_conns_per_ip = 2
  [[reverse.route]]
  backends = [{ address = %q }]
`, a.addr))
	tcp := f.AddrOf("tcp")
	var open []net.Conn
	for range 2 {
		c := dialFrom(t, "127.0.0.1", tcp)
		if g, err := revGreeting(c); err != nil || g != "A" {
			t.Fatalf("greeting %q, %v", g, err)
		}
		open = append(open, c)
	}
	over := dialFrom(t, "127.0.0.1", tcp)
	if n, err := over.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("third connection: %d bytes, %v; want closed", n, err)
	}
	ev := f.WaitEvent("access", func(e Event) bool { return e.Str("proxy_status") == "connection_limit_reached" })
	if ev["status"] != float64(503) {
		t.Fatalf("access event %v", ev)
	}
	if g := revDialTCPFrom(t, "127.0.0.2", tcp); g != "A" {
		t.Fatalf("another address got %q", g)
	}
	open[0].Close()
	closed := open[0].LocalAddr().String()
	f.WaitEvent("access", func(e Event) bool { return e.Int("status") == 200 && e.Str("client") == closed })
	if g := revDialTCPFrom(t, "127.0.0.1", tcp); g != "A" {
		t.Fatalf("after a close, got %q", g)
	}
}
