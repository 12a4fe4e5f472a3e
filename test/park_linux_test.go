package test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// Idle tunnels park (tunnel/park_linux.go): once every tunnel has been
// silent for a moment, ferry holds no relay goroutine for any of them,
// and each still carries bytes both ways when its client speaks again.
func TestIdleTunnelsParkAndWake(t *testing.T) {
	f, admin := startOps(t, opsConfig)
	echo := echoOrigin(t)
	kinds := []struct {
		name string
		open func(proxy, target string) (*net.TCPConn, error)
	}{{"connect", openCONNECT}, {"socks5", openSOCKS5}, {"socks4", openSOCKS4}}
	conns := make([]*net.TCPConn, len(kinds))
	for i, k := range kinds {
		c, err := k.open(f.Addr, echo)
		if err != nil {
			t.Fatalf("%s: %v", k.name, err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(ioTimeout))
		echoRoundTrip(t, c, "ping")
		conns[i] = c
	}

	// Wait (bounded) until no goroutine in ferry waits in a relay's splice.
	deadline := time.Now().Add(ioTimeout)
	var dump string
	for {
		_, _, dump = adminGet(t, admin, "/debug/pprof/goroutine?debug=1")
		if !strings.Contains(dump, "tunnel.(*splicer).fill") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay goroutines still waiting after %v of silence:\n%s", ioTimeout, dump)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}

	for i, k := range kinds {
		echoRoundTrip(t, conns[i], "pong!")
		conns[i].CloseWrite()
		if rest, err := io.ReadAll(conns[i]); err != nil || len(rest) != 0 {
			t.Errorf("%s: after half-close read %q, %v; want EOF", k.name, rest, err)
		}
	}
	for _, k := range kinds {
		ev := f.WaitEvent("access", func(e Event) bool { return e.Str("proto") == k.name })
		if ev.Int("bytes_up") != 9 || ev.Int("bytes_down") != 9 || ev.Str("error") != "" {
			t.Errorf("%s access event: up %d down %d error %q; want 9, 9, none", k.name, ev.Int("bytes_up"), ev.Int("bytes_down"), ev.Str("error"))
		}
	}
}
