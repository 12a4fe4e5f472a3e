package tunnel

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/auth"
)

// failLimiter bounds password guessing (issue 20 item 5). Every login that
// needs a password check is admitted or refused before the check, by the
// limits of auth.Throttle:
//
//   - per client address (an IPv6 /64 counts as one): failed logins a
//     minute, and checks in progress (a few more wait their turn), so one
//     client holds at most a few of the bcrypt workers and another
//     client's first login is checked soon whatever the first one sends;
//   - per user name: failed logins a minute from every address together,
//     except the addresses the user logged in from lately, so guessing one
//     account from many addresses gets nowhere and does not lock its owner
//     out.
//
// A success costs no token (it gives its token back), so successes do not
// buy failures. Credentials verified lately (the Authenticator's cache)
// skip the limiter, so the clients behind a guessing client's address (a
// NAT) go on; except a user name that failed lately tried from an address
// refused lately: there a cache hit would tell a throttled client that a
// guess is right at no cost. Both tables are bounded; idle entries go
// first. The limiter survives reloads: a new policy is no fresh start.
type failLimiter struct {
	now func() time.Time
	max int // entries per table

	seed        maphash.Seed
	lastRefusal atomic.Int64 // unix ns of the latest refusal, for the cache-hit fast path
	// missed holds, per user-name hash slot, the unix ns of the latest
	// failure or refusal for a name in that slot: a table that needs no
	// eviction, so a throttled client cannot churn its marks away.
	missed [1024]atomic.Int64

	mu      sync.Mutex
	clients map[netip.Prefix]*clientState
	users   map[uint64]*userState // by the seeded hash of the name: a key of bounded size
}

const (
	failTable  = 10000          // entries per table; past it the idle and stalest go
	markWindow = time.Minute    // a refusal marks its client, a failure its user name, this long
	goodFor    = 24 * time.Hour // a user's login from an address exempts it from the user's limit this long
	goodAddrs  = 4              // addresses remembered per user
)

func newFailLimiter() *failLimiter {
	return &failLimiter{now: time.Now, max: failTable, seed: maphash.MakeSeed(),
		clients: map[netip.Prefix]*clientState{}, users: map[uint64]*userState{}}
}

// clientKey groups an IPv6 client by its /64, the smallest block one
// subscriber is usually given; an IPv4 client is its address.
func clientKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, a.BitLen())
}

func (l *failLimiter) userKey(user string) uint64 { return maphash.String(l.seed, user) }

// mark notes a failure or refusal for the user name of key uk.
func (l *failLimiter) mark(uk uint64, now time.Time) {
	l.missed[uk%uint64(len(l.missed))].Store(now.UnixNano())
}

// mayskip reports whether a login with credentials verified lately (a
// cache hit) may skip the limiter. It takes no lock unless a user name in
// the same slot failed lately and some client was refused lately.
func (l *failLimiter) mayskip(client netip.Addr, user string) bool {
	now := l.now()
	lately := func(unixNano int64) bool { return now.UnixNano()-unixNano <= int64(markWindow) }
	if !lately(l.missed[l.userKey(user)%uint64(len(l.missed))].Load()) || !lately(l.lastRefusal.Load()) {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.clients[clientKey(client)]
	return c == nil || now.Sub(c.refusedAt) > markWindow
}

// attempt is one admitted login: done must be called once its check ends.
type attempt struct {
	l      *failLimiter
	client netip.Prefix
	c      *clientState
	user   uint64
	t      auth.Throttle
	slots  chan struct{} // the slot held, nil when none
	// Which buckets lent a token: given back unless the check failed.
	clientToken, userToken bool
}

type outcome int

const (
	verified  outcome = iota // the password was right
	failed                   // it was checked and wrong
	unchecked                // no check happened (the client left while waiting)
)

// admit admits a login of user from client, or refuses it (Throttled, with
// a Retry-After) before any check. It may wait for a check slot of the
// client, until ctx ends.
func (l *failLimiter) admit(ctx context.Context, client netip.Addr, user string, t auth.Throttle) (*attempt, error) {
	a, err := l.reserve(client, user, t)
	if err != nil || a.slots == nil {
		return a, err
	}
	select {
	case a.slots <- struct{}{}:
		return a, nil
	case <-ctx.Done():
		a.slots = nil
		a.done(unchecked)
		return nil, ctx.Err()
	}
}

// reserve takes the tokens of an attempt and counts it in its client's
// queue, or refuses it.
func (l *failLimiter) reserve(client netip.Addr, user string, t auth.Throttle) (*attempt, error) {
	now := l.now()
	a := &attempt{l: l, client: clientKey(client), user: l.userKey(user), t: t}
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.clientEntry(a.client, now)
	if c == nil {
		return nil, l.refuse(now, a, "too many clients logging in at once", time.Second)
	}
	a.c = c
	if t.ClientFailures > 0 {
		if !c.fails.take(now, t.ClientFailures) {
			return nil, l.refuse(now, a, fmt.Sprintf("too many failed logins from %s (limit %d a minute)",
				client.Unmap(), t.ClientFailures), c.fails.wait(t.ClientFailures))
		}
		a.clientToken = true
	}
	if t.UserFailures > 0 {
		if u := l.users[a.user]; u == nil || !u.loggedInFrom(a.client, now) {
			u = l.userEntry(a.user, now)
			if !u.fails.take(now, t.UserFailures) {
				a.giveBack(now)
				return nil, l.refuse(now, a, fmt.Sprintf("too many failed logins for user %q (limit %d a minute)",
					user, t.UserFailures), u.fails.wait(t.UserFailures))
			}
			a.userToken = true
		}
	}
	if t.ClientChecks > 0 {
		if c.busy == 0 && cap(c.slots) != t.ClientChecks {
			c.slots = make(chan struct{}, t.ClientChecks) // new, or the limit changed on a reload
		}
		if c.busy >= t.ClientChecks*(1+auth.ClientQueue) {
			a.giveBack(now)
			return nil, l.refuse(now, a, fmt.Sprintf("too many logins in progress from %s (limit %d checks at once)",
				client.Unmap(), t.ClientChecks), time.Second)
		}
		a.slots = c.slots
	}
	c.busy++
	c.seen = now
	return a, nil
}

// done ends the attempt: its slot is freed, its tokens given back unless
// the check failed; a success exempts its client from the user's limit,
// a failure marks the user name.
func (a *attempt) done(o outcome) {
	if a.slots != nil {
		<-a.slots
	}
	l := a.l
	now := l.now()
	if o == failed {
		l.mark(a.user, now)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	a.c.busy--
	if o == failed {
		return
	}
	a.giveBack(now)
	if o == verified && a.t.UserFailures > 0 {
		l.userEntry(a.user, now).addLogin(a.client, now)
	}
}

// giveBack returns the tokens a lent; l.mu is held.
func (a *attempt) giveBack(now time.Time) {
	if a.clientToken {
		a.c.fails.give(now, a.t.ClientFailures)
	}
	if u := a.l.users[a.user]; a.userToken && u != nil {
		u.fails.give(now, a.t.UserFailures)
	}
	a.clientToken, a.userToken = false, false
}

// refuse notes a refusal of a (its client refused, its user name marked)
// and returns its error, which asks the client to wait at least a second;
// l.mu is held.
func (l *failLimiter) refuse(now time.Time, a *attempt, why string, wait time.Duration) error {
	if a.c != nil {
		a.c.refusedAt = now
	}
	l.lastRefusal.Store(now.UnixNano())
	l.mark(a.user, now)
	secs := max(1, (wait+time.Second-1)/time.Second)
	return &Error{Kind: Throttled, Err: &throttledError{why: why, retryAfter: secs * time.Second}}
}

// refusalHold bounds how long a refused login is held before its answer.
const refusalHold = 5 * time.Second

// hold holds the answer to a login refused by the limiter (err) for its
// Retry-After, up to refusalHold, and leaves in err what is left of it (at
// least a second). A client that does not wait as told is thus paced as
// one that does: 200 connections that retry at once get ~100 answers a
// second, not the thousands a flood of instant refusals would cost in CPU
// (and access lines). Held refusals cost a sleeping goroutine each, within
// max_conns. If ctx ends first the refusal is answered then.
func hold(ctx context.Context, err error) error {
	var te *throttledError
	if !errors.As(err, &te) {
		return err
	}
	d := min(te.retryAfter, refusalHold)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		te.retryAfter = max(time.Second, te.retryAfter-d)
	case <-ctx.Done():
	}
	return err
}

// throttledError is a login the limiter refused before any check.
type throttledError struct {
	why        string
	retryAfter time.Duration
}

func (e *throttledError) Error() string {
	return fmt.Sprintf("%s; retry after %v", e.why, e.retryAfter)
}

// RetryAfterOf is how long err, a login refused by the throttle or a
// request over a limit, tells the client to wait (HTTP Retry-After, RFC
// 9110 §10.2.3), in whole seconds, at least one; 0 for other errors.
func RetryAfterOf(err error) time.Duration {
	var te *throttledError
	if errors.As(err, &te) {
		return te.retryAfter
	}
	if le := LimitOf(err); le != nil {
		return max(time.Second, (le.RetryAfter+time.Second-1)/time.Second*time.Second)
	}
	return 0
}
