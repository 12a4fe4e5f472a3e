package tunnel

import (
	"context"
	"net/netip"
	"time"

	"github.com/ferry-proxy/ferry/auth"
)

// SharedFailures counts failed logins across a fleet of ferries (issue 18
// item 3), so that a client guessing passwords cannot multiply its tries
// by the number of ferries behind the balancer; fleet.Throttle fits. The
// engine asks it after its own limiter admitted a login and before the
// password check, and tells it of each failure. When it cannot be reached
// the engine's own limiter stands alone (fail open: each ferry still
// throttles on its own).
type SharedFailures interface {
	// Over says why a login of user from client is to be refused
	// unchecked, "" when it may be checked: the failures the fleet
	// counted this minute reached the limits of t. skipUser: the user's
	// limit does not apply (the client logged in as the user lately).
	Over(ctx context.Context, client netip.Prefix, user string, t auth.Throttle, skipUser bool) (why string, retryAfter time.Duration, err error)
	// Failed counts a failed login of user from client.
	Failed(ctx context.Context, client netip.Prefix, user string)
}

// SetSharedFailures makes the login throttle fleet-wide. Call before
// serving.
func (e *Engine) SetSharedFailures(s SharedFailures) { e.sharedFails = s }

// sharedOver asks the fleet about an attempt the local limiter admitted;
// a refusal is a Throttled error, held as the local ones are.
func (e *Engine) sharedOver(ctx context.Context, a *attempt, user string) error {
	if e.sharedFails == nil {
		return nil
	}
	why, retry, err := e.sharedFails.Over(ctx, a.client, user, a.t, !a.userToken)
	if err != nil || why == "" {
		return nil
	}
	// Noted as the local limiter notes its refusals, so that a lately
	// verified password does not let the client past (mayskip).
	now := a.l.now()
	a.l.mu.Lock()
	a.c.refusedAt = now
	a.l.mu.Unlock()
	a.l.lastRefusal.Store(now.UnixNano())
	a.l.mark(a.user, now)
	secs := max(1, (retry+time.Second-1)/time.Second)
	return &Error{Kind: Throttled, Err: &throttledError{why: why, retryAfter: secs * time.Second}}
}

// sharedFailed counts a failure in the fleet.
func (e *Engine) sharedFailed(ctx context.Context, a *attempt, user string) {
	if e.sharedFails != nil {
		e.sharedFails.Failed(context.WithoutCancel(ctx), a.client, user)
	}
}
