package tunnel

import (
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

	down atomic.Bool // fast path: a healthy upstream costs one load

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
