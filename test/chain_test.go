package test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// laptopHash is the bcrypt hash of "change-me" (examples/remote.toml).
const laptopHash = "$2a$10$jyZV4Ks9acylIIlFZjqLk.Y20pZZWKAPIHFMztNMWdYDuploylCjW"

// parentConfig is a ferry to chain to: a plain listener and a TLS one
// requiring a client certificate, both with Basic / SOCKS5 username and
// password auth, reaching anything.
func parentConfig(pki *chainPKI) string {
	return fmt.Sprintf(`
[[listener]]
name = "plain"
address = "127.0.0.1:0"
auth = true

[[listener]]
name = "tls"
address = "127.0.0.1:0"
auth = true
tls = { cert = %q, key = %q, client_ca = %q }

[[auth.user]]
name = "laptop"
bcrypt = %q

[acl]
default = "allow"
`, pki.Path("remote.pem"), pki.Path("remote.key"), pki.Path("ca.pem"), laptopHash)
}

// plainParent is a ferry without auth on one listener.
const plainParent = minimalConfig

// childConfig is a ferry on loopback with extra (upstreams, routes).
func childConfig(extra string) string {
	return minimalConfig + "\n" + extra
}

// Every kind of upstream against a real parent (another ferry): each front
// end of the child (CONNECT, SOCKS5, plain HTTP) reaches an origin through
// it; socks5 resolves the name in the child, socks5h hands it on.
func TestChainUpstreamKinds(t *testing.T) {
	pki := newChainPKI(t)
	parent := startFerry(t, parentConfig(pki))
	plain, secure := parent.AddrOf("plain"), parent.AddrOf("tls")
	web := newChainOrigins(t)
	asked := func(s, byName string) bool { return s == byName }
	resolved := func(s, byName string) bool {
		h, p, _ := net.SplitHostPort(s)
		_, want, _ := net.SplitHostPort(byName)
		return p == want && net.ParseIP(h).IsLoopback() // an address: the child resolved localhost
	}
	kinds := []struct {
		name, upstream string
		parentSees     func(target, byName string) bool // the CONNECT target the parent logs for byName
	}{
		{"http", fmt.Sprintf(`url = "http://laptop:change-me@%s"`, plain), asked},
		{"https", fmt.Sprintf(`url = "https://laptop:change-me@%s"
ca_file = %q
cert = %q
key = %q`, secure, pki.Path("ca.pem"), pki.Path("laptop.pem"), pki.Path("laptop.key")), asked},
		{"socks5", fmt.Sprintf(`url = "socks5://laptop:change-me@%s"`, plain), resolved},
		{"socks5h", fmt.Sprintf(`url = "socks5h://laptop:change-me@%s"`, plain), asked},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			echo := echoOrigin(t) // one per kind: the parent's events tell them apart
			_, echoPort, _ := net.SplitHostPort(echo)
			byName := "localhost:" + echoPort
			child := startFerry(t, childConfig(fmt.Sprintf(`
[[upstream]]
name = %q
%s

[routing]
default = %q
`, k.name, k.upstream, k.name)))
			for _, tk := range tunnelKinds {
				c := tk.open(t, child.Addr, byName)
				msg := "through " + k.name + " by " + tk.name
				io.WriteString(c, msg)
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
					t.Fatalf("%s: echo %q, %v", tk.name, got, err)
				}
				c.Close()
				ev := child.WaitEvent("access", func(e Event) bool { return e.Str("proto") == tk.name })
				if ev.Str("upstream") != k.name || ev.Str("route") != "default" {
					t.Errorf("child access event %v: want upstream %s", ev, k.name)
				}
			}
			events := parent.WaitEvents("access", func(e Event) bool {
				return e.Str("user") == "laptop" && e.Str("url") == "" && k.parentSees(e.Str("target"), byName)
			}, 2)
			for _, e := range events {
				if e.Str("err") != "" {
					t.Errorf("parent access event %v", e)
				}
			}
			body := curl(t, "-x", "http://"+child.Addr, web.plain.URL+"/"+k.name)
			if !strings.Contains(body, "origin saw /"+k.name) {
				t.Errorf("plain HTTP through %s: %q", k.name, body)
			}
			ev := child.WaitEvent("access", func(e Event) bool { return e.Str("proto") == "http" })
			if ev.Str("upstream") != k.name || ev.Int("status") != 200 {
				t.Errorf("child plain-HTTP event %v", ev)
			}
		})
	}
}

// A route sends one domain to the upstream; everything else goes direct.
func TestChainRouteOneDomain(t *testing.T) {
	parent := startFerry(t, plainParent)
	child := startFerry(t, childConfig(fmt.Sprintf(`
[[upstream]]
name = "parent"
url = "http://%s"

[[route]]
name = "by-name"
upstream = "parent"
domain = ["localhost"]
`, parent.Addr)))
	echo := echoOrigin(t)
	_, port, _ := net.SplitHostPort(echo)
	for _, target := range []string{"localhost:" + port, echo} {
		c := connectTunnel(t, child.Addr, target)
		echoRoundTrip(t, c, "x")
		c.Close()
	}
	routed := child.WaitEvent("access", func(e Event) bool { return e.Str("target") == "localhost:"+port })
	direct := child.WaitEvent("access", func(e Event) bool { return e.Str("target") == echo })
	if routed.Str("route") != "by-name" || routed.Str("upstream") != "parent" || routed.Str("dialed") != parent.Addr {
		t.Errorf("routed event %v", routed)
	}
	if direct.Str("route") != "default" || direct.Str("upstream") != "" || direct.Str("dialed") != echo {
		t.Errorf("direct event %v", direct)
	}
	// The parent logs its tunnel when it ends, which may be after the
	// child's: wait for it. (The direct one went direct: its dialed is
	// the origin, checked above.)
	parent.WaitEvent("access", func(e Event) bool { return e.Str("target") == "localhost:"+port })
	for _, e := range parent.Events("access") {
		if e.Str("target") != "localhost:"+port {
			t.Errorf("parent saw %v, want only the routed request", e)
		}
	}
}

// A group's first member is stopped: the request fails over to the next,
// and the first is logged down. With every member stopped the client gets
// 502 with the reason, and SOCKS5 the refusal's reply.
func TestChainGroupFailover(t *testing.T) {
	p1 := startFerry(t, plainParent)
	p2 := startFerry(t, plainParent)
	child := startFerry(t, childConfig(fmt.Sprintf(`
[[upstream]]
name = "p1"
url = "http://%s"

[[upstream]]
name = "p2"
url = "http://%s"

[[upstream_group]]
name = "parents"
members = ["p1", "p2"]

[routing]
default = "parents"

[admin]
address = "127.0.0.1:0"
`, p1.Addr, p2.Addr)))
	admin := child.AddrOf("admin")
	if ms := scrape(t, admin); ms.val("ferry_upstream_up", "upstream", "p1") != 1 || ms.val("ferry_upstream_up", "upstream", "p2") != 1 {
		t.Errorf("before: ferry_upstream_up p1 %v p2 %v, want 1 1", ms.val("ferry_upstream_up", "upstream", "p1"), ms.val("ferry_upstream_up", "upstream", "p2"))
	}
	echo := echoOrigin(t)
	if code := p1.Stop(); code != 0 {
		t.Fatalf("p1 exited %d", code)
	}
	c := connectTunnel(t, child.Addr, echo)
	echoRoundTrip(t, c, "x")
	c.Close()
	if ev := child.WaitEvent("access", nil); ev.Str("upstream") != "p2" || ev.Int("status") != 200 {
		t.Errorf("access event %v: want served by p2", ev)
	}
	down := child.WaitEvent("upstream down", nil)
	if down.Str("upstream") != "p1" || !strings.Contains(down.Str("reason"), "refused") {
		t.Errorf("upstream down event %v", down)
	}
	if ms := scrape(t, admin); ms.val("ferry_upstream_up", "upstream", "p1") != 0 || ms.val("ferry_upstream_up", "upstream", "p2") != 1 {
		t.Errorf("after: ferry_upstream_up p1 %v p2 %v, want 0 1", ms.val("ferry_upstream_up", "upstream", "p1"), ms.val("ferry_upstream_up", "upstream", "p2"))
	}

	if code := p2.Stop(); code != 0 {
		t.Fatalf("p2 exited %d", code)
	}
	code, head, _ := rawConnect(t, child.Addr, echo)
	ps := headerOf(head, "Proxy-Status")
	if code != http.StatusBadGateway || !strings.Contains(ps, "error=connection_refused") || !strings.Contains(ps, "next-hop=") {
		t.Errorf("with every member stopped: %d, Proxy-Status %q; want 502 connection_refused with next-hop", code, ps)
	}
	rep, _ := socks5Request(t, child.Addr, 1, socks5Addr(t, echo))
	if rep != 0x05 {
		t.Errorf("SOCKS5 reply %#x with every member down, want 0x05 (refused)", rep)
	}
	body, _, _ := runCurl(t, "-x", "http://"+child.Addr, "http://"+echo+"/")
	if !strings.Contains(body, "parents is down") && !strings.Contains(body, "every upstream of parents") {
		t.Errorf("plain HTTP with every member down: %q, want the reason", body)
	}
}

// A → B → C: the child reaches C directly, B through C and A through B
// (any mix of kinds), and opens the tunnel through A.
func TestChainThreeHops(t *testing.T) {
	a, b, c := startFerry(t, plainParent), startFerry(t, plainParent), startFerry(t, plainParent)
	child := startFerry(t, childConfig(fmt.Sprintf(`
[[upstream]]
name = "a"
url = "http://%s"
via = "b"

[[upstream]]
name = "b"
url = "socks5h://%s"
via = "c"

[[upstream]]
name = "c"
url = "http://%s"

[routing]
default = "a"
`, a.Addr, b.Addr, c.Addr)))
	echo := echoOrigin(t)
	conn := socks5Tunnel(t, child.Addr, echo)
	io.WriteString(conn, "three hops")
	got := make([]byte, 10)
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != "three hops" {
		t.Fatalf("echo %q, %v", got, err)
	}
	conn.Close()
	for _, hop := range []struct {
		f            *Ferry
		name, target string
		proto        string
	}{{c, "c", b.Addr, "connect"}, {b, "b", a.Addr, "socks5"}, {a, "a", echo, "connect"}} {
		ev := hop.f.WaitEvent("access", nil)
		if ev.Str("target") != hop.target || ev.Str("proto") != hop.proto {
			t.Errorf("%s's access event %v: want %s to %s", hop.name, ev, hop.proto, hop.target)
		}
	}
	if ev := child.WaitEvent("access", nil); ev.Str("upstream") != "a" || ev.Str("dialed") != c.Addr {
		t.Errorf("child access event %v: want upstream a, dialed c (%s)", ev, c.Addr)
	}
}

// A reload keeps a down upstream down (its health is kept by name and
// url) and applies new routes at once.
func TestChainReload(t *testing.T) {
	parent := startFerry(t, plainParent)
	dead := closedPort(t)
	conf := func(def string) string {
		return childConfig(fmt.Sprintf(`
[[upstream]]
name = "dead"
url = "http://%s"
  [upstream.health]
  backoff = "1h"

[[upstream]]
name = "parent"
url = "http://%s"

[routing]
default = %q
`, dead, parent.Addr, def))
	}
	child := startFerry(t, conf("dead"))
	echo := echoOrigin(t)
	if code, _, _ := rawConnect(t, child.Addr, echo); code != http.StatusBadGateway {
		t.Fatalf("through a dead upstream: %d", code)
	}
	child.WaitEvent("upstream down", nil)
	if err := os.WriteFile(child.Config, []byte(conf("parent")), 0o600); err != nil {
		t.Fatal(err)
	}
	child.Signal(syscall.SIGHUP)
	child.WaitEvent("reload", func(e Event) bool { return e["ok"] == true })
	c := connectTunnel(t, child.Addr, echo)
	c.Close()
	if ev := child.WaitEvent("access", func(e Event) bool { return e.Int("status") == 200 }); ev.Str("upstream") != "parent" {
		t.Errorf("after reload: %v", ev)
	}
	if err := os.WriteFile(child.Config, []byte(conf("dead")), 0o600); err != nil {
		t.Fatal(err)
	}
	child.Signal(syscall.SIGHUP)
	child.WaitEvents("reload", func(e Event) bool { return e["ok"] == true }, 2)
	start := time.Now()
	code, head, _ := rawConnect(t, child.Addr, echo)
	if code != http.StatusBadGateway || !strings.Contains(head, "is down") {
		t.Errorf("the dead upstream after a reload: %d %q; want 502 at once, still down", code, head)
	}
	if d := time.Since(start); d > ioTimeout {
		t.Errorf("took %v", d)
	}
}
