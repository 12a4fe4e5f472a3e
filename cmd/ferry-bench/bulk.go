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

// runBulk measures throughput for each tunnel count and direction: direct
// first, then each proxy protocol, back to back so they share conditions.
func (b *bench) runBulk() []Metric {
	var ms []Metric
	for _, n := range bulkRuns {
		for _, up := range []bool{true, false} {
			dir := "down"
			if up {
				dir = "up"
			}
			direct, derr := b.bulk(viaDirect, n, up)
			for _, v := range b.proxied() {
				p, perr := b.bulk(v, n, up)
				label := fmt.Sprintf("bulk %s %s, %d tunnel", v, dir, n)
				if n > 1 {
					label += "s (sum)"
				}
				m := pair("bulk."+viaID(v)+"."+dir+"."+strconv.Itoa(n), label, unitBytesPerSec, direct, p)
				if perr != nil || derr != nil {
					m.Errors = 1
					m.Note = errNote(derr, perr)
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
// the window and returns the bytes per second that arrived at the
// receiving end in it. Fixed duration, not fixed bytes: every proxy gets
// the same time whatever its speed.
func (b *bench) bulk(v via, n int, up bool) (float64, error) {
	dst, dir := b.o.source, "down"
	count := new(atomic.Int64)
	if up {
		dst, dir, count = b.o.sink, "up", &b.o.sunk
	}
	label := fmt.Sprintf("bulk %s %s ×%d", v, dir, n)
	r := b.route(v, dst.addr())
	conns := make([]*net.TCPConn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		dst.quiet(10 * time.Second)
	}()
	buf := make([]byte, 512)
	for range n {
		c, _, err := r.open(buf)
		if err != nil {
			b.p.done(label, "error: "+err.Error())
			return 0, err
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
	w := newWindow(b.warmup, b.duration)
	time.Sleep(time.Until(w.start))
	c0, t0 := count.Load(), time.Now()
	b.p.watch(w.end, label, count, func(r float64) string { return format(r, unitBytesPerSec) })
	c1, t1 := count.Load(), time.Now()
	stop.Store(true)
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	rate := float64(c1-c0) / t1.Sub(t0).Seconds()
	if fail.n.Load() > 0 {
		b.p.done(label, "error: "+fail.note())
		return rate, fmt.Errorf("%d tunnels failed: %s", fail.n.Load(), fail.note())
	}
	b.p.done(label, format(rate, unitBytesPerSec))
	return rate, nil
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
