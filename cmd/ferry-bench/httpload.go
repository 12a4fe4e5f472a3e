package main

import (
	"fmt"
	"time"
)

// runHTTP measures plain-proxy GETs of the 1 KiB object at b.conc
// keep-alive connections, each with its request in flight back to back.
func (b *bench) runHTTP() []Metric {
	if b.http == "" {
		return nil
	}
	origin := b.o.http.addr()
	targets := []*httpTarget{newHTTPTarget("", origin), newHTTPTarget(b.http, origin)}
	var dials int64
	res := b.takeTurns(2, func(i, round int) loopResult {
		r, d := b.httpLoad(targets[i], round)
		if i == 1 {
			dials += d
		}
		return r
	})
	direct, p := &res[0], &res[1]
	b.directRate["http"] = direct.rate()
	rate := pair("http.rate", "http GET 1 KiB keep-alive req/s", unitPerSec, direct.rate(), p.rate())
	rate.Errors, rate.Note = p.errors, p.note
	if extra := dials - int64(b.conc*b.rounds); extra > 0 {
		// The proxy closed client connections: keep-alive was not held.
		rate.Note = joinNote(rate.Note, fmt.Sprintf("%d reconnects", extra))
	}
	return []Metric{rate,
		pair("http.p50", "http GET p50", unitMicros, direct.micros(50), p.micros(50)),
		pair("http.p99", "http GET p99", unitMicros, direct.micros(99), p.micros(99)),
		cpuMetric("http.cpu", "http GET CPU per request", p, b.pid),
	}
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func (b *bench) httpLoad(t *httpTarget, round int) (loopResult, int64) {
	name, pid := "proxy", b.pid
	if t.addr != b.http {
		name, pid = "direct", 0
	}
	conns := make([]*httpConn, 0, b.conc)
	r := b.loop(b.label(fmt.Sprintf("http %s ×%d", name, b.conc), round), b.conc, pid, func() func() (time.Duration, error) {
		h := newHTTPConn(t)
		conns = append(conns, h) // newOp runs on one goroutine, before the workers
		return func() (time.Duration, error) {
			start := time.Now()
			err := h.roundTrip()
			return time.Since(start), err
		}
	})
	var dials int64
	for _, h := range conns {
		dials += h.dials
		h.close()
	}
	return r, dials
}
