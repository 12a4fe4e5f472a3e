package limit

import (
	"context"
	"sync"
	"time"
)

// memStore is the in-process Store: the default, and the fallback of the
// rules that fail open while a shared store is down. Its tables are
// bounded: past maxKeys, expired windows go first, then any window or
// period (so a flood of new keys under-counts, never grows memory);
// held slots always stay.
type memStore struct {
	now     func() time.Time
	maxKeys int

	mu     sync.Mutex
	slots  map[string]int64
	counts map[string]*counted // Rate and Quota keys
}

type counted struct {
	n       int64
	expires time.Time
}

// DefaultMaxKeys bounds each table of the in-process store.
const DefaultMaxKeys = 100000

func newMemStore(now func() time.Time) *memStore {
	return &memStore{now: now, maxKeys: DefaultMaxKeys, slots: map[string]int64{}, counts: map[string]*counted{}}
}

func (m *memStore) Admit(_ context.Context, owner string, checks []Check) (int, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, c := range checks {
		switch c.Kind {
		case Slot:
			if m.slots[c.Key] >= c.Max {
				return i, nil
			}
		case Rate, Quota:
			if e := m.live(c.Key, now); e != nil && e.n >= c.Max {
				return i, nil
			}
		}
	}
	for _, c := range checks {
		switch c.Kind {
		case Slot:
			m.slots[c.Key]++
		case Rate:
			m.entry(c.Key, c.TTL, now).n++
		}
	}
	return -1, nil
}

func (m *memStore) Release(_ context.Context, _ string, keys []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		if m.slots[k] <= 1 {
			delete(m.slots, k)
		} else {
			m.slots[k]--
		}
	}
	return nil
}

func (m *memStore) AddBytes(_ context.Context, adds []Add) ([]int64, error) {
	now := m.now()
	out := make([]int64, len(adds))
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, a := range adds {
		e := m.entry(a.Key, a.TTL, now)
		e.n += a.N
		out[i] = e.n
	}
	return out, nil
}

func (m *memStore) Refresh(context.Context, map[string][]string) error { return nil }

// live is k's entry unless it expired; m.mu is held.
func (m *memStore) live(k string, now time.Time) *counted {
	e := m.counts[k]
	if e != nil && !now.Before(e.expires) {
		delete(m.counts, k)
		return nil
	}
	return e
}

// entry finds or makes k's entry, living ttl from now; m.mu is held.
func (m *memStore) entry(k string, ttl time.Duration, now time.Time) *counted {
	if e := m.live(k, now); e != nil {
		return e
	}
	if len(m.counts) >= m.maxKeys {
		m.evict(now)
	}
	e := &counted{expires: now.Add(ttl)}
	m.counts[k] = e
	return e
}

// evict drops the expired entries and, if that frees less than a
// sixteenth of the table, others until it has; m.mu is held.
func (m *memStore) evict(now time.Time) {
	want := len(m.counts) - m.maxKeys + m.maxKeys/16 + 1
	for k, e := range m.counts {
		if !now.Before(e.expires) {
			delete(m.counts, k)
			want--
		}
	}
	for k := range m.counts {
		if want <= 0 {
			return
		}
		delete(m.counts, k)
		want--
	}
}
