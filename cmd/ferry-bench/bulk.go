package main

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// bulkRuns are the tunnel counts of the bulk test.
var bulkRuns = []int{1, 8}

// bulkSum adds up one figure's rounds.
type bulkSum struct {
	bytes int64
	secs  float64
	cpu   cpuUse // the proxy's
	err   error
}

func (s *bulkSum) add(r bulkSum) {
	s.bytes += r.bytes
	s.secs += r.secs
	s.cpu.add(r.cpu)
	s.err = r.err
}

func (s *bulkSum) rate() float64 {
	if s.secs == 0 {
		return 0
	}
	return float64(s.bytes) / s.secs
}

// runBulk measures throughput for each tunnel count and direction: direct
// and each proxy protocol take turns, round after round, so a change in
// the machine's load falls on all of them alike. The proxy's CPU time per
// GiB is one row per protocol and tunnel count, up and down together.
func (b *bench) runBulk() []Metric {
	vs := append([]via{viaDirect}, b.proxied()...)
	if len(b.tcpBulk) > 0 {
		vs = append(vs, viaTCP)
	}
	if len(vs) == 1 {
		return nil
	}
	var ms, cpuRows []Metric
	for _, n := range bulkRuns {
		both := make([]bulkSum, len(vs))
		for _, up := range []bool{true, false} {
			dir := "down"
			if up {
				dir = "up"
			}
			sums := make([]bulkSum, len(vs))
			for round := range b.rounds {
				for i, v := range vs {
					if sums[i].err != nil {
						continue
					}
					r := b.bulk(v, n, up, round)
					sums[i].add(r)
					both[i].add(r)
				}
			}
			for i, v := range vs[1:] {
				p := sums[i+1]
				label := fmt.Sprintf("bulk %s %s, %d tunnel", v, dir, n)
				if n > 1 {
					label += "s (sum)"
				}
				m := pair("bulk."+viaID(v)+"."+dir+"."+strconv.Itoa(n), label, unitBytesPerSec, sums[0].rate(), p.rate())
				if p.err != nil || sums[0].err != nil {
					m.Errors = 1
					m.Note = errNote(sums[0].err, p.err)
				}
				ms = append(ms, m)
			}
		}
		for i, v := range vs[1:] {
			cpuRows = append(cpuRows, bulkCPUMetric(v, n, both[i+1], b.pid))
		}
	}
	return append(ms, cpuRows...)
}

// bulkCPUMetric is the row of the proxy's CPU time per GiB that arrived.
func bulkCPUMetric(v via, n int, s bulkSum, pid int) Metric {
	label := fmt.Sprintf("bulk %s CPU per GiB, %d tunnel", v, n)
	if n > 1 {
		label += "s"
	}
	m := Metric{ID: "bulk." + viaID(v) + ".cpu." + strconv.Itoa(n), Label: label, Unit: unitMsPerGiB}
	switch v, ok := s.cpu.per(float64(s.bytes)/(1<<30), time.Millisecond); {
	case ok && s.err == nil:
		m.Proxy = num(v)
	case pid == 0:
		m.Note = "no proxy PID: pass -pid"
	default:
		m.Note = "not measured"
	}
	return m
}

func errNote(direct, proxy error) string {
	if proxy != nil {
		return "proxy: " + proxy.Error()
	}
	if direct != nil {
		return "direct: " + direct.Error()
	}
	return ""
}

// bulk opens n tunnels to the sink (up) or the source (down), streams for
// a round and returns the bytes that arrived at the receiving end in its
// window, the window's length and the proxy's CPU time in it. Fixed
// duration, not fixed bytes: every proxy gets the same time whatever its
// speed.
func (b *bench) bulk(v via, n int, up bool, round int) bulkSum {
	dst, dir := b.o.source, "down"
	count := new(atomic.Int64)
	if up {
		dst, dir, count = b.o.sink, "up", &b.o.sunk
	}
	label := b.label(fmt.Sprintf("bulk %s %s ×%d", v, dir, n), round)
	r := b.route(v, dst.addr())
	if v == viaTCP {
		r = newRoute(v, b.tcpBulk[dst], dst.addr())
	}
	conns := make([]*net.TCPConn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		dst.quiet(10 * time.Second)
	}()
	buf := make([]byte, replyBuf)
	for range n {
		c, _, err := r.open(buf)
		if err != nil {
			b.p.done(label, "error: "+err.Error())
			return bulkSum{err: err}
		}
		c.SetDeadline(time.Time{})
		conns = append(conns, c)
	}

	var stop atomic.Bool
	var fail failures
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if up {
				err = writeAll(c)
			} else {
				err = readAll(c, count)
			}
			if !stop.Load() {
				fail.add(err)
			}
		}()
	}
	w := newWindow(b.warmup, b.round)
	cpu := cpuWindow(b.cpuPID(v), w)
	time.Sleep(time.Until(w.start))
	c0, t0 := count.Load(), time.Now()
	b.p.watch(w.end, label, count, func(r float64) string { return format(r, unitBytesPerSec) })
	c1, t1 := count.Load(), time.Now()
	res := bulkSum{bytes: c1 - c0, secs: t1.Sub(t0).Seconds(), cpu: <-cpu}
	stop.Store(true)
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	if fail.n.Load() > 0 {
		b.p.done(label, "error: "+fail.note())
		res.err = fmt.Errorf("%d tunnels failed: %s", fail.n.Load(), fail.note())
		return res
	}
	status := format(res.rate(), unitBytesPerSec)
	if v, ok := res.cpu.per(float64(res.bytes)/(1<<30), time.Millisecond); ok {
		status += "  CPU " + format(v, unitMsPerGiB)
	}
	b.p.done(label, status)
	return res
}

// writeAll and readAll are the client ends of the bulk test: one
// preallocated buffer, no allocation per call.
func writeAll(c *net.TCPConn) error {
	buf := make([]byte, bulkBuf)
	for {
		if _, err := c.Write(buf); err != nil {
			return err
		}
	}
}

func readAll(c *net.TCPConn, count *atomic.Int64) error {
	buf := make([]byte, bulkBuf)
	for {
		n, err := c.Read(buf)
		count.Add(int64(n))
		if err != nil {
			return err
		}
	}
}
