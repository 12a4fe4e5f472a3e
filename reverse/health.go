package reverse

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"
)

// Active check kinds.
const (
	CheckTCP  = "tcp"  // a TCP connect succeeds
	CheckTLS  = "tls"  // a TLS handshake completes
	CheckNone = "none" // passive only: a failed dial skips the backend for FailTimeout
)

// probeFunc checks one backend; nil means healthy.
type probeFunc func(ctx context.Context, b *Backend) error

// changeFunc is told when a backend goes up or down, and why.
type changeFunc func(p *Pool, b *Backend, err error)

// checkLoop runs active checks: once at once, then on every tick, until ctx
// ends. The ticks come from a time.Ticker in production and from the test.
func (p *Pool) checkLoop(ctx context.Context, ticks <-chan time.Time, probe probeFunc, changed changeFunc) {
	for {
		p.checkAll(ctx, probe, changed)
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
	}
}

// checkAll probes every backend at the same time, each under the check
// timeout, and applies the results.
func (p *Pool) checkAll(ctx context.Context, probe probeFunc, changed changeFunc) {
	var wg sync.WaitGroup
	for _, b := range p.backends {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, p.Health.Timeout)
			err := probe(cctx, b)
			cancel()
			if ctx.Err() != nil {
				return // stopped (reload or shutdown): not the backend's fault
			}
			if b.observe(err == nil, p.Health.Rise, p.Health.Fall) && changed != nil {
				changed(p, b, err)
			}
		})
	}
	wg.Wait()
}

// startChecks runs p's active checks on a ticker until ctx ends. own
// reports an address where ferry's own reverse listeners accept: a probe
// that reaches one fails, as a dial there does (conn.dial), or the check
// would keep a self-looping backend up.
func (p *Pool) startChecks(ctx context.Context, changed changeFunc, own func(net.Addr) bool) {
	if p.Health.Check == CheckNone || len(p.backends) == 0 {
		return
	}
	connect := func(ctx context.Context, b *Backend) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", b.Address)
		if err == nil && own(c.RemoteAddr()) {
			c.Close()
			return nil, fmt.Errorf("backend %s is one of ferry's own reverse listeners", b.Address)
		}
		return c, err
	}
	probe := func(ctx context.Context, b *Backend) error { return p.probeTCP(ctx, b, connect) }
	if p.Health.Check == CheckTLS {
		probe = func(ctx context.Context, b *Backend) error { return p.probeTLS(ctx, b, connect) }
	}
	t := time.NewTicker(p.Health.Interval)
	go func() {
		defer t.Stop()
		p.checkLoop(ctx, t.C, probe, changed)
	}()
}

// dialFunc connects a probe to a backend.
type dialFunc func(ctx context.Context, b *Backend) (net.Conn, error)

func (p *Pool) probeTCP(ctx context.Context, b *Backend, connect dialFunc) error {
	c, err := connect(ctx, b)
	if err != nil {
		return err
	}
	return c.Close()
}

func (p *Pool) probeTLS(ctx context.Context, b *Backend, connect dialFunc) error {
	c, err := connect(ctx, b)
	if err != nil {
		return err
	}
	defer c.Close()
	cfg := p.Health.TLS
	if cfg == nil {
		// A liveness probe of a passthrough backend: ferry holds no CA for
		// it and trusts nothing it learns here.
		cfg = &tls.Config{InsecureSkipVerify: true}
	} else {
		cfg = forBackend(cfg, b.Address, "")
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	return tc.Close()
}
