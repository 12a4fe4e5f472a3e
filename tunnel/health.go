package tunnel

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// UpstreamEvent is a change of an upstream's health, for the log.
type UpstreamEvent struct {
	Name   string
	Up     bool
	Reason string        // why it went down ("" when up)
	For    time.Duration // how long it is left out (down only)
}

// health is an upstream's passive health, a circuit breaker: a failure
// takes it out for a back-off period that doubles with each failure in a
// row up to a cap; when the period is over the next request tries it
// again (and a failure doubles the period), a success resets it. Active
// checks, when configured, feed the same record.
type health struct {
	spec HealthSpec
	now  func() time.Time
	note func(UpstreamEvent) // set by the engine; nil: nobody listens

	down   atomic.Bool  // fast path: a healthy upstream costs one load
	lastOK atomic.Int64 // when something through it last succeeded, Unix ns, to within a second

	mu      sync.Mutex
	until   time.Time
	backoff time.Duration
	last    error // the failure that took it out

	// The active checker, run by the engine while the upstream is in the
	// policy; cur is the Upstream it probes through (replaced by reloads).
	cur  atomic.Pointer[Upstream]
	stop chan struct{}
}

func newHealth(spec HealthSpec) *health {
	spec.setDefaults()
	return &health{spec: spec, now: time.Now}
}

// workedWithin reports whether something through the upstream succeeded
// within d.
func (h *health) workedWithin(d time.Duration) bool {
	return h.now().UnixNano()-h.lastOK.Load() < int64(d)
}

// available reports whether the upstream may be tried now.
func (h *health) available() bool {
	if !h.down.Load() {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.now().Before(h.until)
}

// state returns when a down upstream may be tried again and why it is
// down; a zero time when it is up.
func (h *health) state() (time.Time, error) {
	if !h.down.Load() {
		return time.Time{}, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.until, h.last
}

// failed takes the upstream out after err. A failure while it is out
// already (a request that started before) changes nothing: the back-off
// doubles per trial, not per request that was under way.
func (h *health) failed(err error) {
	h.mu.Lock()
	if h.down.Load() && h.now().Before(h.until) {
		h.mu.Unlock()
		return
	}
	if h.backoff == 0 {
		h.backoff = h.spec.Backoff
	} else {
		h.backoff = min(2*h.backoff, h.spec.MaxBackoff)
	}
	h.until = h.now().Add(h.backoff)
	h.last = err
	d := h.backoff
	h.down.Store(true)
	note := h.note
	h.mu.Unlock()
	if note != nil {
		note(UpstreamEvent{Up: false, Reason: err.Error(), For: d})
	}
}

// succeeded brings the upstream back and resets its back-off.
func (h *health) succeeded() {
	if now := h.now().UnixNano(); now-h.lastOK.Load() > int64(time.Second) {
		h.lastOK.Store(now) // once a second at most: no shared write per request
	}
	if !h.down.Load() {
		return
	}
	h.mu.Lock()
	was := h.down.Swap(false)
	h.backoff, h.last, h.until = 0, nil, time.Time{}
	note := h.note
	h.mu.Unlock()
	if was && note != nil {
		note(UpstreamEvent{Up: true})
	}
}

// healthBook is the engine's part of routing that outlives a policy: the
// upstreams' health records (by key, so a reload keeps them for upstreams
// it does not change) and their active checkers.
type healthBook struct {
	mu      sync.Mutex
	book    map[string]*health
	note    func(UpstreamEvent)
	ticker  func(time.Duration) (<-chan time.Time, func()) // tests replace it
	stopAll context.CancelFunc                             // the checkers of the current book
	wg      sync.WaitGroup
}

func newTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// SetUpstreamLog sets the function told of each upstream going down or
// coming back (cmd/ferry logs it).
func (e *Engine) SetUpstreamLog(f func(UpstreamEvent)) {
	e.book.mu.Lock()
	defer e.book.mu.Unlock()
	e.book.note = f
}

// bindRoutes gives the upstreams of p the health records of their keys
// (new ones for new keys), drops the records p no longer uses, and
// restarts the active checkers on the new set. SetPolicy calls it before
// p is published.
func (e *Engine) bindRoutes(p *Policy) {
	c := &e.book
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopAll != nil {
		c.stopAll()
		c.stopAll = nil
	}
	book := map[string]*health{}
	if p.Routes != nil {
		for _, u := range p.Routes.upstreams {
			h, ok := c.book[u.key]
			if !ok {
				h = u.health
			}
			h.mu.Lock()
			h.spec = u.spec.Health
			h.now = e.now
			name := u.name
			h.note = func(ev UpstreamEvent) {
				ev.Name = name
				c.mu.Lock()
				note := c.note
				c.mu.Unlock()
				if note != nil {
					note(ev)
				}
			}
			h.mu.Unlock()
			h.cur.Store(u)
			u.health = h
			book[u.key] = h
		}
	}
	c.book = book
	ctx, cancel := context.WithCancel(context.Background())
	c.stopAll = cancel
	if c.ticker == nil {
		c.ticker = newTicker
	}
	for _, h := range book {
		if h.spec.Probe != "" {
			tick, stop := c.ticker(h.spec.Interval)
			c.wg.Go(func() { e.check(ctx, h, tick, stop) })
		}
	}
}

// UpstreamState is an upstream's health now, for metrics.
type UpstreamState struct {
	Name string
	Up   bool  // may be tried now: not taken out, or its back-off is over
	Open int64 // connections through it now
}

// UpstreamStates lists the current policy's upstreams by name.
func (e *Engine) UpstreamStates() []UpstreamState {
	rt := e.policy.Load().Routes
	if rt == nil {
		return nil
	}
	out := make([]UpstreamState, 0, len(rt.upstreams))
	for _, u := range rt.upstreams {
		out = append(out, UpstreamState{Name: u.name, Up: u.health.available(), Open: u.Open()})
	}
	slices.SortFunc(out, func(a, b UpstreamState) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// close stops the active checkers and waits for them.
func (c *healthBook) close() {
	c.mu.Lock()
	if c.stopAll != nil {
		c.stopAll()
		c.stopAll = nil
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// check is an active checker: at each tick it opens a tunnel through the
// upstream to the probe target. An answer from the upstream, even one
// saying the target failed, shows the upstream works and brings it back;
// a failure of the upstream itself takes it out as a client's would.
func (e *Engine) check(ctx context.Context, h *health, tick <-chan time.Time, stop func()) {
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		u := h.cur.Load()
		pctx, cancel := context.WithTimeout(ctx, e.cfg.DialTimeout)
		c, err := u.DialContext(pctx, "tcp", h.spec.Probe)
		cancel()
		switch {
		case err == nil:
			c.Close()
		case ctx.Err() != nil:
			return
		case isExcused(err):
			u.fault(err) // the probe's target answers: the failure is the upstream's
		case !isUpstreamFault(err):
			h.succeeded()
		}
	}
}
