package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The open test is latency a user feels (issue 19 item 3): operations
// arrive at a fixed rate whether or not the earlier ones have finished,
// as requests from many independent users do, and each one's latency is
// counted from the moment it was due, so time spent queued behind a slow
// one counts too (no coordinated omission). The closed loops of setup and
// http measure capacity instead: at saturation, where latency is mostly
// the queue the load tool itself builds.

// openRate is an arrival rate of the open test: a share of the direct
// capacity measured in the same run ("25%"), or a rate per second ("2000").
type openRate struct {
	share  float64 // of the direct capacity, 0 < share; 0 when perSec is set
	perSec float64
}

func (r openRate) String() string {
	if r.share > 0 {
		return strconv.FormatFloat(r.share*100, 'f', -1, 64) + "%"
	}
	return strconv.FormatFloat(r.perSec, 'f', -1, 64) + "/s"
}

// id is the rate in a metric's ID: "25pct" or "2000ps".
func (r openRate) id() string {
	if r.share > 0 {
		return strconv.FormatFloat(r.share*100, 'f', -1, 64) + "pct"
	}
	return strconv.FormatFloat(r.perSec, 'f', -1, 64) + "ps"
}

// of is the rate per second, given the direct capacity.
func (r openRate) of(capacity float64) float64 {
	if r.share > 0 {
		return r.share * capacity
	}
	return r.perSec
}

// parseOpenRates reads -open-rates: comma-separated shares ("25%") or
// rates per second.
func parseOpenRates(s string) ([]openRate, error) {
	var rs []openRate
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		pct, isShare := strings.CutSuffix(f, "%")
		v, err := strconv.ParseFloat(pct, 64)
		if err != nil || v <= 0 || v > 1e7 {
			return nil, fmt.Errorf("-open-rates: %q is not a share like 25%% or a rate like 2000", f)
		}
		if isShare {
			rs = append(rs, openRate{share: v / 100})
		} else {
			rs = append(rs, openRate{perSec: v})
		}
	}
	return rs, nil
}

// Open-test bounds: how many operations may be under way at once (each
// costs the tool up to 2 fds), and how long after the window the last
// ones may take before they count as late.
const (
	openSlots = 512
	openGrace = dialTimeout
)

var errLate = errors.New("not started within the window and its grace: the proxy fell behind the arrival rate")

// openLoop starts an operation every 1/rate from now until the window's
// end, each on the first of slots workers free (newOp builds one
// worker's), and returns the latencies of those due inside the window,
// from when each was due to when op says it was done. An operation still
// not started openGrace after the window counts as an error.
func (b *bench) openLoop(label string, rate float64, slots, pid int, newOp func() func() (time.Duration, error)) loopResult {
	w := newWindow(b.warmup, b.round)
	cpu := cpuWindow(pid, w)
	t0 := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	total := int(w.end.Sub(t0) / interval)
	due := make(chan int, min(total, 1<<20)) // arrival numbers, in order
	cutoff := w.end.Add(openGrace)
	parts := make([]latencies, slots)
	var fail failures
	var wg sync.WaitGroup
	for i := range slots {
		op := newOp()
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat latencies
			for n := range due {
				at := t0.Add(time.Duration(n) * interval)
				measured := !at.Before(w.start)
				start := time.Now()
				if start.After(cutoff) {
					if measured {
						fail.add(errLate)
					}
					continue
				}
				d, err := op()
				if !measured {
					continue
				}
				if err != nil {
					fail.add(err)
					continue
				}
				lat = append(lat, start.Sub(at)+d)
			}
			parts[i] = lat
		}()
	}
	// The dispatcher hands out every arrival due by now, then sleeps until
	// the next one: a late wake-up delays a batch, and the delay counts.
	for n := 0; n < total; {
		for upTo := min(total, int(time.Since(t0)/interval)+1); n < upTo; n++ {
			due <- n
		}
		if n < total {
			time.Sleep(time.Until(t0.Add(time.Duration(n) * interval)))
		}
	}
	close(due)
	wg.Wait()
	r := loopResult{parts: parts, secs: w.end.Sub(w.start).Seconds(), errors: fail.n.Load(), note: fail.note(), cpu: <-cpu}
	shown := r
	shown.finish()
	b.p.done(label, fmt.Sprintf("%s  p50 %s  p99 %s  p99.9 %s  errors %d", format(shown.rate(), unitPerSec),
		format(shown.micros(50), unitMicros), format(shown.micros(99), unitMicros),
		format(shown.micros(99.9), unitMicros), r.errors))
	return r
}

// runOpen measures tunnel setup (each protocol, and the plain TCP
// forwarder) and plain-HTTP GETs at each open rate, direct and proxied in
// turns, and reports what the proxy adds to the direct latency at p50,
// p99 and p99.9. A share is of the direct capacity: the closed-loop rate
// of the setup and http tests when they ran, else measured here.
func (b *bench) runOpen(rates []openRate) []Metric {
	vs := append([]via{viaDirect}, b.proxied()...)
	if b.tcp != "" {
		vs = append(vs, viaTCP)
	}
	var ms []Metric
	if len(vs) > 1 {
		capacity := b.capacity("setup", func() loopResult { return b.setup(viaDirect, 0) })
		for _, rt := range rates {
			perSec := rt.of(capacity)
			res := b.takeTurns(len(vs), func(i, round int) loopResult { return b.openSetup(vs[i], perSec, round) })
			for i, v := range vs[1:] {
				name := "open setup " + v.String()
				if v == viaTCP {
					name += " (no handshake)"
				}
				ms = append(ms, openMetrics("open."+viaID(v)+"."+rt.id(), name, rt, perSec, &res[0], &res[i+1])...)
			}
		}
	}
	if b.http != "" {
		origin := b.o.http.addr()
		targets := []*httpTarget{newHTTPTarget("", origin), newHTTPTarget(b.http, origin)}
		capacity := b.capacity("http", func() loopResult { r, _ := b.httpLoad(targets[0], 0); return r })
		for _, rt := range rates {
			perSec := rt.of(capacity)
			res := b.takeTurns(2, func(i, round int) loopResult { return b.openHTTP(targets[i], perSec, round) })
			ms = append(ms, openMetrics("open.http."+rt.id(), "open http GET", rt, perSec, &res[0], &res[1])...)
		}
	}
	return ms
}

// capacity is the direct closed-loop rate of test: as given by
// -open-base, from its run, or measured now with one round.
func (b *bench) capacity(test string, measure func() loopResult) float64 {
	if c, ok := b.openBase[test]; ok {
		return c
	}
	if c, ok := b.directRate[test]; ok {
		return c
	}
	r := measure()
	r.finish()
	b.directRate[test] = r.rate()
	return r.rate()
}

// openMetrics are the rows of one open figure: the latency the proxy adds
// at p50, p99 and p99.9 (proxy minus direct at the same rate), the
// arrival rate in the first row's note.
func openMetrics(id, name string, rt openRate, perSec float64, direct, p *loopResult) []Metric {
	at := " at " + rt.String()
	var ms []Metric
	for _, q := range []struct {
		id  string
		pct float64
	}{{"p50", 50}, {"p99", 99}, {"p999", 99.9}} {
		label := strings.Replace(q.id, "p999", "p99.9", 1)
		m := pair(id+"."+q.id, name+at+" "+label+" added", unitMicros, direct.micros(q.pct), p.micros(q.pct))
		m.Added = num(p.micros(q.pct) - direct.micros(q.pct))
		ms = append(ms, m)
	}
	ms[0].Note = format(perSec, unitPerSec)
	ms[0].Errors = p.errors
	if p.note != "" {
		ms[0].Note += "; " + p.note
	}
	return ms
}

func (b *bench) openSetup(v via, perSec float64, round int) loopResult {
	r := b.route(v, b.o.echo.addr())
	label := b.label(fmt.Sprintf("open setup %s at %s", v, format(perSec, unitPerSec)), round)
	return b.openLoop(label, perSec, openSlots, b.cpuPID(v), func() func() (time.Duration, error) {
		buf := make([]byte, replyBuf)
		return func() (time.Duration, error) { return echoOnce(r, buf) }
	})
}

// openHTTP sends GETs at perSec over b.conc keep-alive connections: an
// arrival waits for a free one, as in a browser's or a client library's
// pool.
func (b *bench) openHTTP(t *httpTarget, perSec float64, round int) loopResult {
	name, pid := "proxy", b.pid
	if t.addr != b.http {
		name, pid = "direct", 0
	}
	label := b.label(fmt.Sprintf("open http %s at %s", name, format(perSec, unitPerSec)), round)
	var conns []*httpConn
	r := b.openLoop(label, perSec, b.conc, pid, func() func() (time.Duration, error) {
		h := newHTTPConn(t)
		conns = append(conns, h) // newOp runs on one goroutine, before the workers
		return func() (time.Duration, error) {
			start := time.Now()
			err := h.roundTrip()
			return time.Since(start), err
		}
	})
	for _, h := range conns {
		h.close()
	}
	return r
}

// parseOpenBase reads -open-base: "setup=N,http=M", either may be left
// out; "" is none.
func parseOpenBase(s string) (map[string]float64, error) {
	base := map[string]float64{}
	if s == "" {
		return base, nil
	}
	for _, f := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		n, err := strconv.ParseFloat(v, 64)
		if !ok || (k != "setup" && k != "http") || err != nil || n <= 0 {
			return nil, fmt.Errorf("-open-base: %q is not setup=N or http=N (a rate per second)", f)
		}
		base[k] = n
	}
	return base, nil
}

// calibrate measures the direct closed-loop capacity of setup and http
// (every round, as those tests do) and returns it in -open-base's form.
func calibrate(o *options) (string, error) {
	orig, err := startOrigins("", "", "")
	if err != nil {
		return "", fmt.Errorf("starting origins: %w", err)
	}
	defer orig.close()
	b := &bench{o: orig, warmup: min(max(o.duration/time.Duration(5*o.rounds), 100*time.Millisecond), time.Second),
		round: o.duration / time.Duration(o.rounds), rounds: o.rounds, conc: o.conc, p: newProgress(os.Stderr, o.quiet)}
	setup := b.takeTurns(1, func(_, round int) loopResult { return b.setup(viaDirect, round) })[0]
	target := newHTTPTarget("", orig.http.addr())
	http := b.takeTurns(1, func(_, round int) loopResult { r, _ := b.httpLoad(target, round); return r })[0]
	return fmt.Sprintf("setup=%.0f,http=%.0f", setup.rate(), http.rate()), nil
}
