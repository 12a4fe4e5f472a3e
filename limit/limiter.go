package limit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/acl"
)

// Limiter applies a Set's rules with one Store. It outlives reloads (the
// counters, the tickets held, the store's state); Admit is given the
// Set of the moment.
type Limiter struct {
	local   *memStore
	shared  Store         // nil: in process only
	timeout time.Duration // each call of shared
	owner   string        // this process's prefix of ticket owners
	seq     atomic.Uint64
	now     func() time.Time

	stats sync.Map // rule name → *RuleStats
	meter meters   // meter.go
	// held are the tickets holding slots in the shared store, which
	// refresh names to it.
	heldMu sync.Mutex
	held   map[*Ticket]struct{}
	// backlog is what the shared store missed, sent when it is back
	// (backlog.go).
	backlog backlog
	flushMu sync.Mutex // one flush at a time: Flush returns with its bytes counted
	stop    chan struct{}
	wg      sync.WaitGroup
}

// Options configure a Limiter.
type Options struct {
	// Shared is the fleet's store; nil keeps every counter in process.
	Shared Store
	// Timeout bounds each call of Shared (a few ms: a request never
	// waits longer on it); default DefaultTimeout.
	Timeout time.Duration
	// Owner names this process among the fleet's (host:port, say): a
	// prefix of its tickets' slot owners.
	Owner string
	Now   func() time.Time // default time.Now
}

// DefaultTimeout bounds each call of a shared store.
const DefaultTimeout = 5 * time.Millisecond

// NewLimiter returns a Limiter and starts its flusher; Close stops it.
func NewLimiter(o Options) *Limiter {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	l := &Limiter{local: newMemStore(o.Now), shared: o.Shared, timeout: o.Timeout, owner: o.Owner, now: o.Now,
		stop: make(chan struct{}), held: map[*Ticket]struct{}{}}
	l.meter.init()
	l.wg.Add(1)
	go l.run()
	return l
}

// Close stops the flusher after a last flush.
func (l *Limiter) Close() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// Shared reports whether counters are shared by a fleet.
func (l *Limiter) Shared() bool { return l.shared != nil }

// Admit decides a request the ACL allowed (q as the ACL saw it, name not
// resolved) under the rules of set: nil, nil when no rule matches it; a
// Ticket to hold until the request ends (Done) when every limit passed;
// or an *Exceeded naming the limit it is over.
func (l *Limiter) Admit(ctx context.Context, set *Set, q *acl.Query) (*Ticket, error) {
	if set == nil {
		return nil, nil
	}
	now := l.now()
	var checks []Check
	var rules []*Rule // the rule of each check
	var whos []string
	for _, r := range set.rules {
		if r.match.Eval(q) != acl.Matches {
			continue
		}
		who := r.who(q)
		n := len(checks)
		checks = r.checks(checks, who, now)
		for range len(checks) - n {
			rules, whos = append(rules, r), append(whos, who)
		}
	}
	if len(checks) == 0 {
		return nil, nil
	}
	t := &Ticket{l: l, owner: l.owner + "#" + strconv.FormatUint(l.seq.Add(1), 36)}
	refused, storeDown := l.admit(ctx, t, checks, rules)
	if refused >= 0 {
		c, r := checks[refused], rules[refused]
		st := l.ruleStats(r.Name)
		st.Refused[c.Kind].Add(1)
		e := &Exceeded{Limit: r.Name, Kind: c.Kind, Max: c.Max, Who: describe(whos[refused]), RetryAfter: r.retryAfter(c, now)}
		if storeDown {
			e.StoreDown, e.RetryAfter = true, time.Second
			st.StoreErr.Add(1)
		}
		return nil, e
	}
	for i, c := range checks {
		switch c.Kind {
		case Slot:
			t.slots = append(t.slots, c.Key)
		case Quota:
			t.quotas = append(t.quotas, quota{max: c.Max, rule: rules[i], who: whos[i]})
		}
	}
	if len(t.quotas) > 0 {
		t.m = &Meter{kick: l.meter.kick}
		l.meter.add(t)
	}
	if len(t.slots) > 0 && t.store == l.shared {
		l.heldMu.Lock()
		l.held[t] = struct{}{}
		l.heldMu.Unlock()
	}
	return t, nil
}

// admit runs checks in the shared store, or when it cannot be reached in
// process for the rules that fail open; a rule that fails closed refuses
// then (storeDown). A shared store that knows it is down answers at once
// (fleet.Redis), so an outage costs no request a timeout each.
func (l *Limiter) admit(ctx context.Context, t *Ticket, checks []Check, rules []*Rule) (refused int, storeDown bool) {
	if l.shared != nil {
		sctx, cancel := context.WithTimeout(ctx, l.timeout)
		refused, err := l.shared.Admit(sctx, t.owner, checks)
		cancel()
		if err == nil {
			t.store = l.shared
			return refused, false
		}
		if !errors.Is(err, ErrNotSent) {
			// The answer missed its deadline, but the script may have run
			// and taken slots for t.owner: they are given back there in
			// the background, and this ticket holds its slots here. Its
			// rate counts, if taken, stay: the request is served, and
			// each store counts it at most once.
			l.backlog.release(t.owner, slotKeys(checks), l.now())
			l.meter.poke()
		}
		for i := range checks {
			if !rules[i].FailOpen {
				return i, true
			}
		}
	}
	t.store = l.local
	refused, _ = l.local.Admit(ctx, t.owner, checks)
	return refused, false
}

// slotKeys are the keys of checks' Slot checks.
func slotKeys(checks []Check) []string {
	var keys []string
	for _, c := range checks {
		if c.Kind == Slot {
			keys = append(keys, c.Key)
		}
	}
	return keys
}

// Ticket is an admitted request's hold on its limits: its tunnel slots
// and its quotas' meter. Done must be called once the request ends.
type Ticket struct {
	l      *Limiter
	owner  string
	store  Store    // where the slots were taken
	slots  []string // Slot keys held
	quotas []quota
	m      *Meter // nil without quotas
	done   atomic.Bool
}

// quota is one byte quota of a ticket. Its key is the period's at each
// flush, not at admission: a tunnel open past midnight UTC counts into
// the new day.
type quota struct {
	max  int64
	rule *Rule
	who  string
}

// add is n bytes moved at now for q.
func (q *quota) add(n int64, now time.Time) Add {
	return q.rule.quotaAdd(q.who, n, now)
}

// Meter is where the relay counts the ticket's bytes; nil when no quota
// applies (nothing to count). A nil *Ticket has none.
func (t *Ticket) Meter() *Meter {
	if t == nil {
		return nil
	}
	return t.m
}

// Count adds n bytes moved to the ticket's quotas (a plain-HTTP
// response); a tunnel counts through its Meter.
func (t *Ticket) Count(n int64) {
	if t != nil && t.m != nil {
		t.m.Add(n)
	}
}

// Done gives back the slots and hands the bytes not flushed yet to the
// flusher. It may be called more than once, and on a nil *Ticket.
func (t *Ticket) Done() {
	if t == nil || !t.done.CompareAndSwap(false, true) {
		return
	}
	l := t.l
	if t.m != nil {
		l.meter.remove(t, l.now())
	}
	if len(t.slots) == 0 {
		return
	}
	if t.store == l.local {
		l.local.Release(context.Background(), t.owner, t.slots)
		return
	}
	l.heldMu.Lock()
	delete(l.held, t)
	l.heldMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	err := t.store.Release(ctx, t.owner, t.slots)
	cancel()
	if err != nil {
		// Missed (late, or Redis down): sent again when it answers, so
		// the slot is not held for nothing until it lapses.
		l.backlog.release(t.owner, t.slots, l.now())
	}
}

// heldSlots are the slots this process holds in the shared store, by
// owner, and their tickets.
func (l *Limiter) heldSlots() (map[string][]string, []*Ticket) {
	l.heldMu.Lock()
	defer l.heldMu.Unlock()
	out := make(map[string][]string, len(l.held))
	ts := make([]*Ticket, 0, len(l.held))
	for t := range l.held {
		out[t.owner] = t.slots
		ts = append(ts, t)
	}
	return out, ts
}

// Exceeded is a request refused by a limit.
type Exceeded struct {
	Limit      string // the rule's name
	Kind       CheckKind
	Max        int64
	Who        string        // "user alice", "client 192.0.2.1"
	RetryAfter time.Duration // until it may pass: 1s for tunnels, the window's or period's end
	StoreDown  bool          // refused because the shared store is down and the rule fails closed
}

func (e *Exceeded) Error() string {
	if e.StoreDown {
		return fmt.Sprintf("limit %q: the shared limit store is unreachable and the limit fails closed", e.Limit)
	}
	switch e.Kind {
	case Slot:
		return fmt.Sprintf("limit %q: %d tunnels open at once for %s", e.Limit, e.Max, e.Who)
	case Rate:
		return fmt.Sprintf("limit %q: %d requests in the window for %s", e.Limit, e.Max, e.Who)
	}
	return fmt.Sprintf("limit %q: quota of %d bytes spent for %s", e.Limit, e.Max, e.Who)
}

// RuleStats counts what a rule did, for the metrics.
type RuleStats struct {
	Refused  [3]atomic.Int64 // by CheckKind, at admission
	Stopped  atomic.Int64    // tunnels ended when their quota was spent
	StoreErr atomic.Int64    // refusals because the store was down (closed)
}

func (l *Limiter) ruleStats(name string) *RuleStats {
	if s, ok := l.stats.Load(name); ok {
		return s.(*RuleStats)
	}
	s, _ := l.stats.LoadOrStore(name, &RuleStats{})
	return s.(*RuleStats)
}

// Stats calls f with each rule's counters (rules of this and earlier
// configs: the names are the config's, so the set is bounded).
func (l *Limiter) Stats(f func(rule string, s *RuleStats)) {
	l.stats.Range(func(k, v any) bool { f(k.(string), v.(*RuleStats)); return true })
}
