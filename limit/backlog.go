package limit

import (
	"context"
	"sync"
	"time"
)

// backlog is what the shared store missed, sent when it answers again:
// releases of slots that may be held there (a release that failed; an
// admission whose answer came too late, whose script may have run), and
// bytes a flush could not add. It is bounded: a release older than
// SlotTTL is dropped (no refresh names it, so the slot has lapsed), the
// oldest release goes past maxBacklog, and bytes of a new key past
// maxBacklog keys are dropped (counted in Lost).
type backlog struct {
	mu       sync.Mutex
	releases []release
	bytes    map[string]*owed
	lost     int64 // bytes dropped at the bound
}

type release struct {
	owner string
	keys  []string
	at    time.Time
}

type owed struct {
	n       int64
	expires time.Time // the quota key's: bytes of a period gone are dropped
}

// maxBacklog bounds the releases, and the quota keys, kept for the
// shared store.
const maxBacklog = 10000

// settleBatch bounds the releases sent per flush.
const settleBatch = 256

func (b *backlog) release(owner string, keys []string, now time.Time) {
	if len(keys) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.releases) >= maxBacklog {
		b.releases = b.releases[1:] // the oldest is the nearest to lapsing
	}
	b.releases = append(b.releases, release{owner, keys, now})
}

// takeReleases takes up to settleBatch releases not lapsed at now.
func (b *backlog) takeReleases(now time.Time) []release {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := 0
	for i < len(b.releases) && now.Sub(b.releases[i].at) >= SlotTTL {
		i++
	}
	n := min(len(b.releases)-i, settleBatch)
	out := append([]release(nil), b.releases[i:i+n]...)
	b.releases = b.releases[i+n:]
	if len(b.releases) == 0 {
		b.releases = nil
	}
	return out
}

// putBack returns releases not sent, ahead of the others.
func (b *backlog) putBack(rs []release) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.releases = append(rs, b.releases...)
	if over := len(b.releases) - maxBacklog; over > 0 {
		b.releases = b.releases[over:]
	}
}

// owe keeps adds for the shared store, merged by key.
func (b *backlog) owe(adds []Add, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bytes == nil {
		b.bytes = map[string]*owed{}
	}
	for _, a := range adds {
		o := b.bytes[a.Key]
		if o == nil {
			if len(b.bytes) >= maxBacklog {
				b.lost += a.N
				continue
			}
			o = &owed{expires: now.Add(a.TTL)}
			b.bytes[a.Key] = o
		}
		o.n += a.N
	}
}

// takeBytes takes the bytes owed whose period has not ended.
func (b *backlog) takeBytes(now time.Time) []Add {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.bytes) == 0 {
		return nil
	}
	out := make([]Add, 0, len(b.bytes))
	for k, o := range b.bytes {
		if ttl := o.expires.Sub(now); ttl > 0 {
			out = append(out, Add{Key: k, N: o.n, TTL: ttl})
		}
		delete(b.bytes, k)
	}
	return out
}

// settle sends the releases the shared store missed, until one fails.
func (l *Limiter) settle() {
	rs := l.backlog.takeReleases(l.now())
	for i, r := range rs {
		ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
		err := l.shared.Release(ctx, r.owner, r.keys)
		cancel()
		if err != nil {
			l.backlog.putBack(rs[i:])
			return
		}
	}
}

// waiting is what waits for the shared store: releases of slots, quota
// keys with bytes not added, and bytes dropped at the bound.
func (l *Limiter) waiting() (releases, quotaKeys int, lost int64) {
	b := &l.backlog
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.releases), len(b.bytes), b.lost
}
