package test

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// httpsUpstream is an [[upstream]] for the parent's TLS listener, with
// extra keys (http2 = false, say).
func httpsUpstream(pki *chainPKI, name, addr, extra string) string {
	return fmt.Sprintf(`
[[upstream]]
name = %q
url = "https://laptop:change-me@%s"
ca_file = %q
cert = %q
key = %q
%s
`, name, addr, pki.Path("ca.pem"), pki.Path("laptop.pem"), pki.Path("laptop.key"), extra)
}

// echoThrough opens a CONNECT tunnel through proxy to an echo target and
// checks one round trip.
func echoThrough(t *testing.T, proxy, target, msg string) {
	t.Helper()
	c := connectTunnel(t, proxy, target)
	defer c.Close()
	io.WriteString(c, msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo %q, %v; want %q", got, err, msg)
	}
}

// Ferry to ferry over TLS: with the default http2, the child's tunnels
// are streams on one connection to the parent (the parent's access lines
// say h2, all from one client port: no handshake per tunnel); with http2
// = false, each has a TLS connection of its own.
func TestChainHTTP2(t *testing.T) {
	pki := newChainPKI(t)
	parent := startFerry(t, parentConfig(pki))
	echo := echoOrigin(t)
	web := newChainOrigins(t)
	for _, tt := range []struct {
		name, extra string
		h2          bool
	}{
		{"h2", "", true},
		{"h1", "http2 = false", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			child := startFerry(t, childConfig(httpsUpstream(pki, "parent-"+tt.name, parent.AddrOf("tls"), tt.extra)+`
[routing]
default = "parent-`+tt.name+`"
`))
			const n = 6
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					echoThrough(t, child.Addr, echo, fmt.Sprintf("tunnel %d", i))
				}()
			}
			wg.Wait()
			child.WaitEvents("access", func(e Event) bool { return e.Str("upstream") == "parent-"+tt.name }, n)
			lines := parent.WaitEvents("access", func(e Event) bool {
				return e.Str("target") == echo && e.Str("user") == "laptop" && (e.Str("http_version") == "h2") == tt.h2
			}, n)
			clients := map[string]bool{}
			for _, e := range lines {
				clients[e.Str("client")] = true
			}
			switch {
			case tt.h2 && len(clients) != 1:
				t.Errorf("%d tunnels over h2 came from %d connections, want 1: %v", n, len(clients), clients)
			case !tt.h2 && len(clients) != n:
				t.Errorf("%d tunnels over HTTP/1.1 came from %d connections, want %d", n, len(clients), n)
			}
			// Plain HTTP goes to the parent as a request on a stream too.
			body := curl(t, "-x", "http://"+child.Addr, web.plain.URL+"/"+tt.name)
			if !strings.Contains(body, "origin saw /"+tt.name+" via 2 proxies") {
				t.Errorf("plain HTTP through the chain: %q", body)
			}
			ev := parent.WaitEvent("access", func(e Event) bool { return e.Str("url") == web.plain.URL+"/"+tt.name })
			if (ev.Str("http_version") == "h2") != tt.h2 || ev.Int("status") != 200 {
				t.Errorf("the parent's line for the plain request: %v (want h2: %v)", ev, tt.h2)
			}
		})
	}
}

// A parent that reloads sends GOAWAY: the child's next tunnel goes on a
// new connection, and works.
func TestChainHTTP2Redial(t *testing.T) {
	pki := newChainPKI(t)
	parent := startFerry(t, parentConfig(pki))
	echo := echoOrigin(t)
	child := startFerry(t, childConfig(httpsUpstream(pki, "parent", parent.AddrOf("tls"), "")+`
[routing]
default = "parent"
`))
	echoThrough(t, child.Addr, echo, "before")
	first := parent.WaitEvent("access", func(e Event) bool { return e.Str("http_version") == "h2" })
	parent.Signal(syscall.SIGHUP)
	parent.WaitEvent("reload", nil)
	// The GOAWAY goes out just after the reload event: a tunnel opened at
	// once may still land on the old connection, legitimately. Every one
	// must work, and one soon must come on a new connection.
	const tries = 20
	for i := 2; i <= tries+1; i++ {
		echoThrough(t, child.Addr, echo, fmt.Sprintf("after %d", i))
		lines := parent.WaitEvents("access", func(e Event) bool { return e.Str("http_version") == "h2" }, i)
		if lines[i-1].Str("client") != first.Str("client") {
			return
		}
	}
	t.Errorf("%d tunnels after GOAWAY all came on the old connection (%s)", tries, first.Str("client"))
}

// A parent that dies takes its connection with it: the child's next
// tunnel, which had not started, is tried on a fresh connection, that
// fails, and the group's next parent serves it.
func TestChainHTTP2Failover(t *testing.T) {
	pki := newChainPKI(t)
	first := startFerry(t, parentConfig(pki))
	second := startFerry(t, parentConfig(pki))
	echo := echoOrigin(t)
	child := startFerry(t, childConfig(httpsUpstream(pki, "first", first.AddrOf("tls"), "")+
		httpsUpstream(pki, "second", second.AddrOf("tls"), "")+`
[[upstream_group]]
name = "parents"
members = ["first", "second"]

[routing]
default = "parents"
`))
	echoThrough(t, child.Addr, echo, "on the first")
	if ev := child.WaitEvent("access", nil); ev.Str("upstream") != "first" {
		t.Fatalf("first tunnel went through %q", ev.Str("upstream"))
	}
	addr := first.AddrOf("tls")
	first.Stop()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Skip("the first parent's port was taken again")
	}
	echoThrough(t, child.Addr, echo, "on the second")
	evs := child.WaitEvents("access", nil, 2)
	if evs[1].Str("upstream") != "second" || evs[1].Int("status") != 200 {
		t.Errorf("after the first parent died: %v, want the second parent", evs[1])
	}
}

// A child that reloads replaces its upstreams: the old pool's connection
// gets GOAWAY, the tunnel on it goes on to its end, and then the
// connection closes, rather than idling on for its idle timeout.
func TestChainHTTP2ReloadRetiresConns(t *testing.T) {
	pki := newChainPKI(t)
	parent := startFerry(t, parentConfig(pki))
	echo := echoOrigin(t)
	child := startFerry(t, childConfig(httpsUpstream(pki, "parent", parent.AddrOf("tls"), "")+`
[routing]
default = "parent"
`))
	_, port, _ := net.SplitHostPort(parent.AddrOf("tls"))
	held := connectTunnel(t, child.Addr, echo)
	if n := settledEstablished(t, port, 1, 5*time.Second); n != 1 {
		t.Fatalf("%d connections to the parent with one tunnel, want 1", n)
	}
	child.Signal(syscall.SIGHUP)
	child.WaitEvent("reload", nil)
	if _, err := io.WriteString(held, "still"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(held, buf); err != nil || string(buf) != "still" {
		t.Fatalf("the tunnel open across the reload: %q, %v", buf, err)
	}
	held.Close()
	if n := settledEstablished(t, port, 0, 10*time.Second); n != 0 {
		t.Fatalf("the replaced upstream's connection to the parent is still open 10 s after its last tunnel (%d)", n)
	}
}

// settledEstablished polls establishedTo until it has read want three
// times in a row, or wait has passed, and returns the last count.
// /proc/net/tcp is no snapshot: read while other sockets come and go
// (other tests, in parallel), it can skip an entry, so one read is not
// the answer.
func settledEstablished(t *testing.T, port string, want int, wait time.Duration) int {
	t.Helper()
	n, same := -1, 0
	for end := time.Now().Add(wait); same < 3 && time.Now().Before(end); {
		if n = establishedTo(t, port); n == want {
			same++
		} else {
			same = 0
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	return n
}

// establishedTo counts the established TCP connections on this host
// whose local port is port (the server's side of each), from /proc.
func establishedTo(t *testing.T, port string) int {
	t.Helper()
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(":%04X", p)
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) > 3 && strings.HasSuffix(fields[1], want) && fields[3] == "01" {
				n++
			}
		}
	}
	return n
}
