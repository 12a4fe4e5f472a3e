package limit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Byte quotas are counted while a tunnel runs, not only when it ends (a
// 50 GiB download must stop near its quota): the relay adds each chunk it
// moves to its ticket's Meter, an atomic add; the flusher, outside the
// relay's loop, adds what moved to the quotas every FlushEvery, or sooner
// when a meter has moved FlushBytes since it last asked, and ends the
// tunnels of a quota that is spent.
const (
	FlushEvery = 250 * time.Millisecond
	flushShift = 22 // FlushBytes = 4 MiB
	FlushBytes = 1 << flushShift
)

// Meter counts the bytes of one tunnel (both directions) for its quotas.
type Meter struct {
	n       atomic.Int64
	kick    chan struct{}
	flushed int64       // what the flusher has counted; the flusher's alone
	spent   atomic.Bool // stop was called: the fast check of Stopped

	mu      sync.Mutex
	stopFn  func(error)
	stopErr error
}

// Add counts n bytes moved; the relay calls it per chunk. Crossing a
// FlushBytes boundary asks the flusher for a flush, without waiting.
func (m *Meter) Add(n int64) {
	v := m.n.Add(n)
	if (v-n)>>flushShift != v>>flushShift {
		select {
		case m.kick <- struct{}{}:
		default:
		}
	}
}

// Count is the bytes counted so far.
func (m *Meter) Count() int64 { return m.n.Load() }

// OnStop sets how the relay is ended when the quota is spent (its first
// failure, which closes both ends); if it is already, f is called now.
func (m *Meter) OnStop(f func(error)) {
	m.mu.Lock()
	err := m.stopErr
	m.stopFn = f
	m.mu.Unlock()
	if err != nil {
		f(err)
	}
}

// Stopped is why the tunnel was ended, nil while it was not; one atomic
// load until it was.
func (m *Meter) Stopped() error {
	if !m.spent.Load() {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stopErr
}

func (m *Meter) stop(err error) {
	m.mu.Lock()
	if m.stopErr != nil {
		m.mu.Unlock()
		return
	}
	m.stopErr = err
	m.spent.Store(true)
	f := m.stopFn
	m.mu.Unlock()
	if f != nil {
		f(err)
	}
}

// meters is the Limiter's flusher state: the tickets with quotas that are
// running, and the bytes of those that ended, not flushed yet.
type meters struct {
	kick    chan struct{}
	mu      sync.Mutex
	live    map[*Ticket]struct{}
	pending []Add
}

func (ms *meters) init() {
	ms.kick = make(chan struct{}, 1)
	ms.live = map[*Ticket]struct{}{}
}

func (ms *meters) add(t *Ticket) {
	ms.mu.Lock()
	ms.live[t] = struct{}{}
	ms.mu.Unlock()
}

// remove takes an ended ticket out; what it moved since the last flush
// is flushed next.
func (ms *meters) remove(t *Ticket) {
	ms.mu.Lock()
	delete(ms.live, t)
	if d := t.m.n.Load() - t.m.flushed; d > 0 {
		t.m.flushed += d
		for _, q := range t.quotas {
			ms.pending = append(ms.pending, Add{Key: q.key, N: d, TTL: q.ttl})
		}
	}
	ms.mu.Unlock()
	select {
	case ms.kick <- struct{}{}:
	default:
	}
}

// run is the flusher: it flushes on a kick or every FlushEvery, and
// refreshes the slots held in the shared store every RefreshEvery.
func (l *Limiter) run() {
	defer l.wg.Done()
	flush := time.NewTicker(FlushEvery)
	defer flush.Stop()
	refresh := time.NewTicker(RefreshEvery)
	defer refresh.Stop()
	for {
		select {
		case <-l.stop:
			l.flush()
			return
		case <-l.meter.kick:
			l.flush()
		case <-flush.C:
			l.flush()
		case <-refresh.C:
			l.refresh()
		}
	}
}

// flush adds the bytes moved since the last flush to their quotas, one
// batch for all tickets, and stops the tunnels whose quota is spent.
func (l *Limiter) flush() {
	ms := &l.meter
	ms.mu.Lock()
	adds := ms.pending
	ms.pending = nil
	type ref struct {
		t *Ticket
		q int // index in t.quotas
	}
	var refs []ref // of each add past the pending ones
	for t := range ms.live {
		d := t.m.n.Load() - t.m.flushed
		if d <= 0 {
			continue
		}
		t.m.flushed += d
		for i, q := range t.quotas {
			adds = append(adds, Add{Key: q.key, N: d, TTL: q.ttl})
			refs = append(refs, ref{t, i})
		}
	}
	ms.mu.Unlock()
	if len(adds) == 0 {
		return
	}
	// Tickets all took their slots in one store, but a flush may mix
	// tickets of the shared store and of the fallback: bytes go where
	// the store is now, so an outage counts in process.
	var totals []int64
	err := errNoShared
	if l.shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 4*l.timeout)
		totals, err = l.shared.AddBytes(ctx, adds)
		cancel()
	}
	if err != nil {
		totals, _ = l.local.AddBytes(context.Background(), adds)
	}
	first := len(adds) - len(refs)
	for i, r := range refs {
		q := r.t.quotas[r.q]
		if totals[first+i] >= q.max {
			st := l.ruleStats(q.rule.Name)
			if r.t.m.Stopped() == nil {
				st.Stopped.Add(1)
			}
			r.t.m.stop(&Exceeded{Limit: q.rule.Name, Kind: Quota, Max: q.max, Who: describe(q.who),
				RetryAfter: q.rule.retryAfter(Check{Kind: Quota}, l.now())})
		}
	}
}

// refresh tells the shared store that this process's tickets still hold
// their slots.
func (l *Limiter) refresh() {
	if l.shared == nil {
		return
	}
	held := l.heldSlots()
	if len(held) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*l.timeout)
	defer cancel()
	l.shared.Refresh(ctx, held) // missed: the slots lapse after SlotTTL, as a dead ferry's
}

// errNoShared sends a flush to the in-process store.
var errNoShared = errors.New("no shared store")
