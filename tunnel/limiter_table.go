package tunnel

import (
	"net/netip"
	"slices"
	"time"
)

// The limiter's tables (limiter.go): per client address and per user name,
// bounded, each entry a token bucket of failures.

// clientState is a client address's entry.
type clientState struct {
	fails     bucket
	busy      int           // attempts admitted and not done: checking or waiting
	slots     chan struct{} // one per check in progress; nil when unlimited
	refusedAt time.Time
	seen      time.Time
}

// userState is a user name's entry: its failures, and the addresses it
// logged in from lately, which its limit spares.
type userState struct {
	fails bucket
	good  [goodAddrs]struct {
		client netip.Prefix
		at     time.Time
	}
	seen time.Time
}

func (u *userState) loggedInFrom(client netip.Prefix, now time.Time) bool {
	for _, g := range u.good {
		if g.client == client && now.Sub(g.at) < goodFor {
			return true
		}
	}
	return false
}

// addLogin remembers a login from client, in place of the oldest.
func (u *userState) addLogin(client netip.Prefix, now time.Time) {
	oldest := 0
	for i, g := range u.good {
		if g.client == client {
			oldest = i
			break
		}
		if g.at.Before(u.good[oldest].at) {
			oldest = i
		}
	}
	u.good[oldest].client, u.good[oldest].at = client, now
}

// clientEntry finds or makes k's entry, nil when the table is full of
// clients with checks in progress; l.mu is held.
func (l *failLimiter) clientEntry(k netip.Prefix, now time.Time) *clientState {
	if c := l.clients[k]; c != nil {
		return c
	}
	if len(l.clients) >= l.max {
		evict(l.clients, l.max, func(c *clientState) (bool, bool, time.Time) {
			return c.busy > 0, c.fails.full(now) && now.Sub(c.refusedAt) > markWindow, c.seen
		})
		if len(l.clients) >= l.max {
			return nil
		}
	}
	c := &clientState{seen: now}
	l.clients[k] = c
	return c
}

// userEntry finds or makes k's entry; l.mu is held.
func (l *failLimiter) userEntry(k uint64, now time.Time) *userState {
	if u := l.users[k]; u != nil {
		u.seen = now
		return u
	}
	if len(l.users) >= l.max {
		evict(l.users, l.max, func(u *userState) (bool, bool, time.Time) {
			idle := u.fails.full(now)
			for _, g := range u.good {
				idle = idle && now.Sub(g.at) >= goodFor
			}
			return false, idle, u.seen
		})
	}
	u := &userState{seen: now}
	l.users[k] = u
	return u
}

// evict makes room in a full table: it drops every entry that holds
// nothing worth keeping, and if that frees less than a sixteenth, the
// stalest of the rest, so that a table full of live entries is scanned
// once per max/16 new ones rather than once each. Busy entries stay.
func evict[K comparable, V any](m map[K]V, max int, state func(V) (busy, forgettable bool, seen time.Time)) {
	type aged struct {
		k    K
		seen time.Time
	}
	var rest []aged
	want := len(m) - max + max/16 + 1
	for k, v := range m {
		busy, forgettable, seen := state(v)
		switch {
		case busy:
		case forgettable:
			delete(m, k)
			want--
		default:
			rest = append(rest, aged{k, seen})
		}
	}
	if want <= 0 {
		return
	}
	slices.SortFunc(rest, func(a, b aged) int { return a.seen.Compare(b.seen) })
	for _, e := range rest[:min(want, len(rest))] {
		delete(m, e.k)
	}
}

// bucket is a token bucket of failures: full at perMinute tokens, refilled
// at perMinute a minute. The zero bucket is full.
type bucket struct {
	spent     float64 // tokens missing at `at`
	at        time.Time
	perMinute int // the limit last used, for full()
}

func (b *bucket) refill(now time.Time, perMinute int) {
	if b.spent > 0 {
		b.spent = max(0, b.spent-now.Sub(b.at).Minutes()*float64(perMinute))
	}
	b.at, b.perMinute = now, perMinute
}

// take spends a token if there is one.
func (b *bucket) take(now time.Time, perMinute int) bool {
	b.refill(now, perMinute)
	if b.spent+1 > float64(perMinute) {
		return false
	}
	b.spent++
	return true
}

func (b *bucket) give(now time.Time, perMinute int) {
	b.refill(now, perMinute)
	b.spent = max(0, b.spent-1)
}

// wait is how long until take would succeed, after it did not.
func (b *bucket) wait(perMinute int) time.Duration {
	return time.Duration((b.spent + 1 - float64(perMinute)) / float64(perMinute) * float64(time.Minute))
}

func (b *bucket) full(now time.Time) bool {
	b.refill(now, b.perMinute)
	return b.spent == 0
}
