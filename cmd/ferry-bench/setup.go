package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// loopResult is what a closed-loop test (setup, http) measured, over one
// round or added up over several.
type loopResult struct {
	parts  []latencies // per worker and round: the operations in the windows
	secs   float64     // the windows' total length
	errors int64
	note   string
	cpu    cpuUse          // the proxy's CPU time in the windows
	lat    []time.Duration // parts merged and sorted, by finish
}

func (l *loopResult) add(r loopResult) {
	l.parts = append(l.parts, r.parts...)
	l.secs += r.secs
	l.errors += r.errors
	l.cpu.add(r.cpu)
	if l.note == "" {
		l.note = r.note
	}
}

// finish merges the samples; rate and micros read the result.
func (l *loopResult) finish() { l.lat = merge(l.parts) }

func (l *loopResult) rate() float64 {
	if l.secs == 0 {
		return 0
	}
	return float64(len(l.lat)) / l.secs
}

func (l *loopResult) micros(p float64) float64 {
	return float64(percentile(l.lat, p)) / float64(time.Microsecond)
}

// cpuPer is the proxy's CPU time per operation in µs.
func (l *loopResult) cpuPer() (float64, bool) {
	return l.cpu.per(float64(len(l.lat)), time.Microsecond)
}

// cpuMetric is the row of a proxy's CPU time per operation in µs; a note
// says why when there is no figure.
func cpuMetric(id, label string, l *loopResult, pid int) Metric {
	m := Metric{ID: id, Label: label, Unit: unitMicros}
	if v, ok := l.cpuPer(); ok {
		m.Proxy = num(v)
	} else if pid == 0 {
		m.Note = "no proxy PID: pass -pid"
	} else {
		m.Note = "not measured"
	}
	return m
}

// takeTurns runs measure for each of n subjects, taking turns round after
// round, and returns each subject's added-up result.
func (b *bench) takeTurns(n int, measure func(subject, round int) loopResult) []loopResult {
	res := make([]loopResult, n)
	for round := range b.rounds {
		for i := range n {
			res[i].add(measure(i, round))
		}
	}
	for i := range res {
		res[i].finish()
	}
	return res
}

// loop runs conc workers, each calling op back to back until the window
// ends. op returns the operation's latency; only operations that finished
// inside the window count, so warm-up and the stragglers at the end do not.
// Each worker appends to its own preallocated sample slice. pid's CPU
// time over the window is read too (none for 0).
func (b *bench) loop(label string, conc, pid int, newOp func() func() (time.Duration, error)) loopResult {
	w := newWindow(b.warmup, b.round)
	cpu := cpuWindow(pid, w)
	parts := make([]latencies, conc)
	var done atomic.Int64
	var fail failures
	var wg sync.WaitGroup
	for i := range conc {
		op := newOp()
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := newLatencies(16 << 10)
			for {
				d, err := op()
				end := time.Now()
				if end.After(w.end) {
					break
				}
				if err != nil {
					if !end.Before(w.start) {
						fail.add(err)
					}
					continue
				}
				if !end.Before(w.start) {
					lat = append(lat, d)
				}
				done.Add(1)
			}
			parts[i] = lat
		}()
	}
	b.p.watch(w.end, label, &done, func(r float64) string { return format(r, unitPerSec) })
	wg.Wait()
	r := loopResult{parts: parts, secs: w.end.Sub(w.start).Seconds(), errors: fail.n.Load(), note: fail.note(), cpu: <-cpu}
	shown := r
	shown.finish()
	cpuNote := ""
	if v, ok := shown.cpuPer(); ok {
		cpuNote = "  CPU " + format(v, unitMicros) + "/op"
	}
	b.p.done(label, fmt.Sprintf("%s  p50 %s  p99 %s  errors %d%s", format(shown.rate(), unitPerSec),
		format(shown.micros(50), unitMicros), format(shown.micros(99), unitMicros), r.errors, cpuNote))
	return r
}

// runSetup measures tunnels per second at b.conc: open a tunnel to the
// echo origin, send a byte, read it back, and close when the origin does.
func (b *bench) runSetup() []Metric {
	vs := append([]via{viaDirect}, b.proxied()...)
	if b.tcp != "" {
		vs = append(vs, viaTCP)
	}
	if len(vs) == 1 {
		return nil
	}
	res := b.takeTurns(len(vs), func(i, round int) loopResult { return b.setup(vs[i], round) })
	direct := &res[0]
	b.directRate["setup"] = direct.rate()
	var ms []Metric
	for i, v := range vs[1:] {
		p := &res[i+1]
		id := "setup." + viaID(v)
		name := "setup " + v.String()
		if v == viaTCP {
			name += " (no handshake)"
		}
		rate := pair(id+".rate", name+" tunnels/s", unitPerSec, direct.rate(), p.rate())
		rate.Errors, rate.Note = p.errors, p.note
		ms = append(ms, rate,
			pair(id+".p50", name+" p50", unitMicros, direct.micros(50), p.micros(50)),
			pair(id+".p99", name+" p99", unitMicros, direct.micros(99), p.micros(99)),
			pair(id+".p999", name+" p99.9", unitMicros, direct.micros(99.9), p.micros(99.9)),
			cpuMetric(id+".cpu", name+" CPU per tunnel", p, b.pid))
	}
	return ms
}

func (b *bench) setup(v via, round int) loopResult {
	r := b.route(v, b.o.echo.addr())
	return b.loop(b.label(fmt.Sprintf("setup %s ×%d", v, b.conc), round), b.conc, b.cpuPID(v), func() func() (time.Duration, error) {
		buf := make([]byte, replyBuf)
		return func() (time.Duration, error) { return echoOnce(r, buf) }
	})
}

var errEcho = errors.New("echo byte differs")

// echoOnce is one setup operation. The latency is until the echo is back;
// the operation ends when the origin's close has come through the proxy.
func echoOnce(r *route, buf []byte) (time.Duration, error) {
	start := time.Now()
	c, _, err := r.open(buf)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf[0] = 'e'
	if _, err := c.Write(buf[:1]); err != nil {
		return 0, err
	}
	if _, err := io.ReadFull(c, buf[:1]); err != nil {
		return 0, err
	}
	d := time.Since(start)
	if buf[0] != 'e' {
		return d, errEcho
	}
	return d, waitEOF(c, buf)
}

// waitEOF reads until the peer closes (within the conn's deadline).
func waitEOF(c *net.TCPConn, buf []byte) error {
	for {
		n, err := c.Read(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if n > 0 {
			return errors.New("unexpected bytes after the echo")
		}
	}
}
