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
	err   error
}

func (s *bulkSum) rate() float64 {
	if s.secs == 0 {
		return 0
	}
	return float64(s.bytes) / s.secs
}

// runBulk measures throughput for each tunnel count and direction: direct
// and each proxy protocol take turns, round after round, so a change in
// the machine's load falls on all of them alike.
func (b *bench) runBulk() []Metric {
	vs := append([]via{viaDirect}, b.proxied()...)
	if len(vs) == 1 {
		return nil
	}
	var ms []Metric
	for _, n := range bulkRuns {
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
					bytes, secs, err := b.bulk(v, n, up, round)
					sums[i].bytes += bytes
					sums[i].secs += secs
					sums[i].err = err
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
	}
	return ms
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
// window, and the window's length. Fixed duration, not fixed bytes: every
// proxy gets the same time whatever its speed.
func (b *bench) bulk(v via, n int, up bool, round int) (int64, float64, error) {
	dst, dir := b.o.source, "down"
	count := new(atomic.Int64)
	if up {
		dst, dir, count = b.o.sink, "up", &b.o.sunk
	}
	label := b.label(fmt.Sprintf("bulk %s %s ×%d", v, dir, n), round)
	r := b.route(v, dst.addr())
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
			return 0, 0, err
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
	time.Sleep(time.Until(w.start))
	c0, t0 := count.Load(), time.Now()
	b.p.watch(w.end, label, count, func(r float64) string { return format(r, unitBytesPerSec) })
	c1, t1 := count.Load(), time.Now()
	stop.Store(true)
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	secs := t1.Sub(t0).Seconds()
	if fail.n.Load() > 0 {
		b.p.done(label, "error: "+fail.note())
		return c1 - c0, secs, fmt.Errorf("%d tunnels failed: %s", fail.n.Load(), fail.note())
	}
	b.p.done(label, format(float64(c1-c0)/secs, unitBytesPerSec))
	return c1 - c0, secs, nil
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
