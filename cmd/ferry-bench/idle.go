package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// raiseFileLimit lifts the tool's soft open-file limit to the hard one
// and returns the new soft limit.
func raiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, err
		}
	}
	return l.Cur, nil
}

// idleFit is how many idle tunnels the tool can hold under its file limit:
// each costs it two fds (its client socket and the origin's accepted one),
// after those already open and a margin for the dialer's transient ones.
func idleFit(limit uint64, open, want int) int {
	const margin = 128
	n := (int(min(limit, 1<<30)) - open - margin) / 2
	return max(0, min(n, want))
}

func selfFDs() int {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	return len(names)
}

// idleConfig is what the idle test needs beyond the bench.
type idleConfig struct {
	pid   int
	want  int           // tunnels to hold, at most
	limit uint64        // the tool's open-file limit
	wait  time.Duration // how long to wait for the proxy to give back
}

// runIdle opens as many idle tunnels as fit, reads the proxy's RSS and
// fds, closes them all and times how long the proxy takes to return to its
// start level. The proxy's figures are per tunnel; there is no direct
// baseline (a direct connection costs the proxy nothing).
func (b *bench) runIdle(cfg idleConfig) []Metric {
	v := viaCONNECT
	if b.http == "" {
		v = viaSOCKS5
	}
	if b.proxyAddr(v) == "" {
		return nil
	}
	if cfg.pid == 0 {
		return []Metric{{ID: "idle.tunnels", Label: "idle tunnels held", Unit: unitCount, Note: "no proxy PID: pass -pid"}}
	}
	label := "idle " + v.String()
	n := idleFit(cfg.limit, selfFDs(), cfg.want)
	b.o.hold.quiet(5 * time.Second)
	u0, err := treeUsage(cfg.pid)
	if err != nil {
		return []Metric{{ID: "idle.tunnels", Label: "idle tunnels held", Unit: unitCount, Note: "reading /proc: " + err.Error()}}
	}

	conns, fail := b.openIdle(v, n, label)
	opened := len(conns)
	// Every tunnel is through when the origin holds each far end; then
	// give the proxy until its fd count stops moving.
	waitFor(10*time.Second, 10*time.Millisecond, func() bool { return b.o.hold.active.Load() >= int64(opened) })
	u1 := settle(cfg.pid, u0)

	for _, c := range conns {
		c.Close()
	}
	closed := time.Now()
	growth := u1.rssKiB - u0.rssKiB
	// Back means: fds at most 2 above the start (a proxy may keep a pipe
	// or a log file), RSS within 25% of the start level (issue 19: what a
	// user watching RSS sees; no allocator gives every page back).
	fdBack := func(u usage) bool { return u.fds <= u0.fds+2 }
	rssBack := func(u usage) bool { return u.rssKiB <= u0.rssKiB+max(u0.rssKiB/4, 256) }
	var fdAt, rssAt time.Duration
	var last usage
	fdOK, rssOK := false, false
	end := closed.Add(cfg.wait)
	for !(fdOK && rssOK) && time.Now().Before(end) {
		time.Sleep(100 * time.Millisecond)
		u, err := treeUsage(cfg.pid)
		if err != nil {
			break
		}
		last = u
		if !fdOK && fdBack(u) {
			fdOK, fdAt = true, time.Since(closed)
		}
		if !rssOK && rssBack(u) {
			rssOK, rssAt = true, time.Since(closed)
		}
		b.p.update(label+" closing", fmt.Sprintf("fds %+d  RSS %+d KiB", u.fds-u0.fds, u.rssKiB-u0.rssKiB))
	}
	b.o.hold.quiet(5 * time.Second)

	held := Metric{ID: "idle.tunnels", Label: "idle tunnels held", Unit: unitCount, Proxy: num(float64(opened)), Note: v.String()}
	if opened < n {
		held.Note += "; wanted " + strconv.Itoa(n)
	}
	if fail.n.Load() > 0 {
		held.Errors = fail.n.Load()
		held.Note += "; " + fail.note()
	}
	ms := []Metric{held}
	if opened == 0 {
		return ms
	}
	per := float64(opened)
	ms = append(ms,
		Metric{ID: "idle.rss", Label: "idle RSS per tunnel", Unit: unitKiB, Proxy: num(float64(growth) / per),
			Note: memNote(u0, u1)},
		Metric{ID: "idle.fds", Label: "idle fds per tunnel", Unit: unitFDs, Proxy: num(float64(u1.fds-u0.fds) / per)},
		backMetric("idle.fds_back", "idle fds back after close", fdOK, fdAt, cfg.wait, strconv.Itoa(last.fds-u0.fds)+" fds"),
		backMetric("idle.rss_back", "idle RSS back after close", rssOK, rssAt, cfg.wait,
			fmt.Sprintf("%+.1f MiB", float64(last.rssKiB-u0.rssKiB)/1024)),
	)
	b.p.done(label, fmt.Sprintf("%d tunnels  %.1f KiB and %.2f fds each  fds back %v  RSS back %v",
		opened, float64(growth)/per, float64(u1.fds-u0.fds)/per, fdOK, rssOK))
	return ms
}

func memNote(u0, u1 usage) string {
	s := fmt.Sprintf("%.1f → %.1f MiB", float64(u0.rssKiB)/1024, float64(u1.rssKiB)/1024)
	if u1.procs > 1 {
		s += fmt.Sprintf(" (Pss of %d processes)", u1.procs)
	}
	return s
}

func backMetric(id, label string, ok bool, at, wait time.Duration, left string) Metric {
	m := Metric{ID: id, Label: label, Unit: unitSeconds}
	if ok {
		m.Proxy = num(at.Seconds())
	} else {
		m.Note = "not within " + wait.String() + ": " + left + " above start"
	}
	return m
}

// openIdle opens up to n tunnels to the hold origin from a few goroutines,
// stopping at the first failure (the proxy's own limit, typically).
func (b *bench) openIdle(v via, n int, label string) ([]*net.TCPConn, *failures) {
	r := b.route(v, b.o.hold.addr())
	conns := make([]*net.TCPConn, n)
	var next, opened atomic.Int64
	var stop atomic.Bool
	fail := &failures{}
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, replyBuf)
			for !stop.Load() {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, _, err := r.open(buf)
				if err != nil {
					fail.add(err)
					stop.Store(true)
					return
				}
				c.SetDeadline(time.Time{})
				conns[i] = c
				opened.Add(1)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-time.After(250 * time.Millisecond):
			b.p.update(label+" opening", strconv.FormatInt(opened.Load(), 10)+" of "+strconv.Itoa(n))
		}
	}
	held := conns[:0]
	for _, c := range conns {
		if c != nil {
			held = append(held, c)
		}
	}
	return held, fail
}

// settle polls the proxy until its fd count holds still for three reads
// 100 ms apart (at most 5 s), then returns the last reading.
func settle(pid int, u0 usage) usage {
	last, same := u0, 0
	waitFor(5*time.Second, 100*time.Millisecond, func() bool {
		u, err := treeUsage(pid)
		if err != nil {
			return true
		}
		if u.fds == last.fds {
			same++
		} else {
			same = 0
		}
		last = u
		return same >= 3
	})
	return last
}
