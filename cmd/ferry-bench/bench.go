package main

import (
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// bench holds what every test of a run shares.
type bench struct {
	o      *origins
	warmup time.Duration // before each round, not measured
	round  time.Duration // measured window of one round
	rounds int           // rounds per figure, direct and proxy alternating
	conc   int           // setup and http concurrency
	p      *progress
	http   string // CONNECT and plain-HTTP proxy; "" skips those figures
	socks  string // SOCKS5 proxy; "" skips
	tcp    string // plain TCP forwarder to the echo origin; "" skips
	// tcpBulk are plain TCP forwarders to the sink and the source (bulk).
	tcpBulk map[*origin]string
	pid     int // the proxy's process, whose CPU time is read; 0: unknown

	directRate map[string]float64 // closed-loop direct rate of "setup" and "http", measured in this run
	openBase   map[string]float64 // the open test's capacities when given (-open-base), else directRate
}

// failures counts errors and keeps the first for the report.
type failures struct {
	n     atomic.Int64
	mu    sync.Mutex
	first error
}

func (f *failures) add(err error) {
	if f.n.Add(1) == 1 {
		f.mu.Lock()
		f.first = err
		f.mu.Unlock()
	}
}

func (f *failures) note() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.first == nil {
		return ""
	}
	return "first error: " + f.first.Error()
}

// proxied lists the tunnel protocols this run can measure.
func (b *bench) proxied() []via {
	var vs []via
	if b.http != "" {
		vs = append(vs, viaCONNECT)
	}
	if b.socks != "" {
		vs = append(vs, viaSOCKS5)
	}
	return vs
}

func (b *bench) proxyAddr(v via) string {
	switch v {
	case viaCONNECT:
		return b.http
	case viaSOCKS5:
		return b.socks
	case viaTCP:
		return b.tcp
	}
	return ""
}

// cpuPID is the process whose CPU time a measurement via v reads: the
// proxy's, or none for direct.
func (b *bench) cpuPID(v via) int {
	if v == viaDirect {
		return 0
	}
	return b.pid
}

func (b *bench) route(v via, origin netip.AddrPort) *route {
	return newRoute(v, b.proxyAddr(v), origin)
}

// label names a measurement in the progress line.
func (b *bench) label(what string, round int) string {
	if b.rounds == 1 {
		return what
	}
	return what + " [" + itoa(round+1) + "/" + itoa(b.rounds) + "]"
}

func itoa(i int) string { return strconv.Itoa(i) }

func viaID(v via) string {
	switch v {
	case viaCONNECT:
		return "connect"
	case viaSOCKS5:
		return "socks5"
	case viaTCP:
		return "tcp"
	}
	return "direct"
}
