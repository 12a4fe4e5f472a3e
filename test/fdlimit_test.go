package test

import (
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestFDLimitKeepsAdminReachable is issue 20 item 6 with the real binary
// under a 256-descriptor limit: max_conns is lowered to fit it (and said
// so), a flood of silent connections past it is turned away at once, a
// client over the limit gets its 503 at once rather than after the
// handshake timeout, and the admin port, on descriptors held in reserve,
// still answers.
func TestFDLimitKeepsAdminReachable(t *testing.T) {
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit (util-linux) not installed")
	}
	f := startFerryUnder(t, []string{"prlimit", "--nofile=256:256", "--"},
		minimalConfig+"[limits]\nhandshake_timeout = \"1h\"\n[admin]\naddress = \"127.0.0.1:0\"\n")
	lowered := f.WaitEvent("max_conns lowered to fit the open-file limit: two descriptors a connection, and a reserve", nil)
	maxConns := int(lowered["max_conns"].(float64))
	if maxConns <= 0 || 2*maxConns > 256 {
		t.Fatalf("max_conns lowered to %d under 256 descriptors", maxConns)
	}
	admin := f.AddrOf("admin")
	var silent []net.Conn
	t.Cleanup(func() {
		for _, c := range silent {
			c.Close()
		}
	})
	for range maxConns + 100 {
		c, err := net.DialTimeout("tcp", f.Addr, 10*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", len(silent), err)
		}
		silent = append(silent, c)
	}
	// Each connection is counted on its own goroutine, so a burst is
	// counted in no fixed order: once all 100 past the limit have been
	// turned away, the others are all counted and the next is over.
	if _, ok := waitMetrics(t, admin, 10*time.Second, func(ms metrics) bool {
		refused := 0.0
		for _, s := range ms {
			if s.name == "ferry_connections_refused_total" {
				refused += s.value
			}
		}
		return refused >= 100
	}); !ok {
		t.Fatal("the 100 connections past max_conns were not all turned away")
	}
	c, err := net.DialTimeout("tcp", f.Addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"))
	b := make([]byte, 64)
	n, _ := c.Read(b)
	if !strings.HasPrefix(string(b[:n]), "HTTP/1.1 503") {
		t.Fatalf("a client over the limit got %q, want a 503 at once", b[:n])
	}
	if code, _, _ := adminGet(t, admin, "/healthz"); code != 200 {
		t.Fatalf("admin /healthz: %d", code)
	}
}
