package test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// procStats reads a process's resident memory (VmRSS, bytes) and its open
// file descriptors from /proc.
func procStats(tb testing.TB, pid int) (rss int64, fds int) {
	tb.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			rss = kb << 10
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		tb.Fatal(err)
	}
	return rss, len(ents)
}

// BenchmarkIdleTunnels measures what an idle tunnel costs ferry: it opens
// idleTunnels tunnels of each kind, moves one byte each way on each (so
// its relay has run and is now waiting), and reports ferry's RSS and fd
// growth per tunnel; then it closes them and checks the fds return. It
// opens thousands of sockets, so run it on its own:
//
//	go test ./test -run '^$' -bench IdleTunnels -benchtime 1x
//
// The client side costs 2 fds per tunnel too (client and origin end), so
// the open-file limit must exceed 4*idleTunnels plus a margin.
func BenchmarkIdleTunnels(b *testing.B) {
	const idleTunnels = 2000
	for _, k := range tunnelKinds {
		b.Run(k.name, func(b *testing.B) {
			for range b.N {
				idleTunnelCost(b, k.open, idleTunnels)
			}
		})
	}
}

func idleTunnelCost(b *testing.B, open func(testing.TB, string, string) *net.TCPConn, n int) {
	f := startFerry(b, minimalConfig+`
[limits]
shutdown_grace = "2s"
`)
	origin := echoOrigin(b)
	pid := f.Cmd.Process.Pid
	warm := open(b, f.Addr, origin)
	echoRoundTrip(b, warm, "w")
	warm.Close()
	f.WaitEvents("access", nil, 1)
	rss0, fds0 := procStats(b, pid)

	conns := make([]net.Conn, 0, n)
	for range n {
		c := open(b, f.Addr, origin)
		echoRoundTrip(b, c, "x")
		conns = append(conns, c)
	}
	rss1, fds1 := procStats(b, pid)

	for _, c := range conns {
		c.Close()
	}
	f.WaitEvents("access", nil, n+1)
	rss2, fds2 := procStats(b, pid)
	// Spare splice pipes (up to 32, two fds each) stay pooled until
	// they have been unused for 50-100ms: look again until the fds are
	// back or a bound passes.
	for deadline := time.Now().Add(5 * time.Second); fds2 > fds0+8 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
		rss2, fds2 = procStats(b, pid)
	}

	b.ReportMetric(float64(rss1-rss0)/float64(n), "RSS-B/tunnel")
	b.ReportMetric(float64(fds1-fds0)/float64(n), "fds/tunnel")
	b.Logf("%d idle tunnels: ferry RSS %d → %d KiB, fds %d → %d; all closed: RSS %d KiB, fds %d",
		n, rss0>>10, rss1>>10, fds0, fds1, rss2>>10, fds2)
	// A few splice pipes may stay pooled in the runtime; a leak is per tunnel.
	if fds2 > fds0+8 {
		b.Errorf("fds did not return: %d before, %d after closing every tunnel", fds0, fds2)
	}
	if code := f.Stop(); code != 0 {
		b.Errorf("exit status %d", code)
	}
}
