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
		// On a goroutine of its own: the flusher calls stop, and ending a
		// tunnel or an association may wait (a close behind a write
		// blocked on a client that does not read), which must not hold
		// every other quota's flush and the slots' refresh.
		go f(err)
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
func (ms *meters) remove(t *Ticket, now time.Time) {
	ms.mu.Lock()
	delete(ms.live, t)
	if d := t.m.n.Load() - t.m.flushed; d > 0 {
		t.m.flushed += d
		for i := range t.quotas {
			ms.pending = append(ms.pending, t.quotas[i].add(d, now))
		}
	}
	ms.mu.Unlock()
	ms.poke()
}

// poke asks the flusher for a flush, without waiting.
func (ms *meters) poke() {
	select {
	case ms.kick <- struct{}{}:
	default:
	}
}

// run is the flusher: it flushes on a kick or every FlushEvery (and
// sends what the shared store missed), and refreshes the slots held in
// the shared store every RefreshEvery.
func (l *Limiter) run() {
	defer l.wg.Done()
	flush := time.NewTicker(FlushEvery)
	defer flush.Stop()
	refresh := time.NewTicker(RefreshEvery)
	defer refresh.Stop()
	for {
		select {
		case <-l.stop:
			l.Flush()
			return
		case <-l.meter.kick:
			l.Flush()
		case <-flush.C:
			l.Flush()
		case <-refresh.C:
			l.refresh()
		}
	}
}

// Flush adds the bytes moved since the last flush to their quotas now,
// as the flusher does every FlushEvery, and stops the tunnels whose quota
// is spent; with a shared store, it first sends what the store missed.
// When it returns, every byte counted before it was called is counted.
func (l *Limiter) Flush() {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if l.shared != nil {
		l.settle()
	}
	l.flush()
}

// flushRef is a ticket's quota whose bytes are in a flush.
type flushRef struct {
	t *Ticket
	q int // index in t.quotas
}

// flush adds the bytes moved since the last flush to their quotas, one
// batch for all tickets, and stops the tunnels whose quota is spent.
// Bytes go to the shared store, with those it missed before; when it
// cannot be reached they are kept for it (bounded) and counted in
// process meanwhile, which limits the rules that fail open; a tunnel
// under a rule that fails closed is stopped once the store is known to
// be down. l.flushMu is held.
func (l *Limiter) flush() {
	now := l.now()
	ms := &l.meter
	ms.mu.Lock()
	adds := ms.pending
	ms.pending = nil
	var refs []flushRef // of each add past the pending ones
	for t := range ms.live {
		d := t.m.n.Load() - t.m.flushed
		if d <= 0 {
			continue
		}
		t.m.flushed += d
		for i := range t.quotas {
			adds = append(adds, t.quotas[i].add(d, now))
			refs = append(refs, flushRef{t, i})
		}
	}
	ms.mu.Unlock()
	var owed []Add
	if l.shared != nil {
		owed = l.backlog.takeBytes(now)
	}
	if len(adds) == 0 && len(owed) == 0 {
		return
	}
	totals, err := l.addBytes(owed, adds, now)
	storeDown := l.shared != nil && errors.Is(err, ErrNotSent)
	first := len(adds) - len(refs)
	for i, r := range refs {
		q := r.t.quotas[r.q]
		switch {
		case storeDown && !q.rule.FailOpen:
			l.stopTicket(r.t, &Exceeded{Limit: q.rule.Name, Kind: Quota, Max: q.max, Who: describe(q.who),
				RetryAfter: time.Second, StoreDown: true})
		case totals[first+i] >= q.max:
			l.stopTicket(r.t, &Exceeded{Limit: q.rule.Name, Kind: Quota, Max: q.max, Who: describe(q.who),
				RetryAfter: q.rule.retryAfter(Check{Kind: Quota}, now)})
		}
	}
}

// addBytes adds owed (bytes the shared store missed) and adds to the
// quotas, and returns the totals of adds: the shared store's, or when it
// cannot be reached (err) the in-process store's, owed and adds kept for
// the shared store.
func (l *Limiter) addBytes(owed, adds []Add, now time.Time) ([]int64, error) {
	if l.shared == nil {
		totals, _ := l.local.AddBytes(context.Background(), adds)
		return totals, nil
	}
	all := append(owed, adds...)
	ctx, cancel := context.WithTimeout(context.Background(), 4*l.timeout)
	totals, err := l.shared.AddBytes(ctx, all)
	cancel()
	if err == nil {
		return totals[len(owed):], nil
	}
	if errors.Is(err, ErrNotSent) {
		// Never sent: owed until the store is back. A call that was sent
		// and not answered in time most likely ran (a slow answer): sent
		// again, its bytes would count twice.
		l.backlog.owe(all, now)
	}
	totals, _ = l.local.AddBytes(context.Background(), adds) // owed were counted here when first missed
	return totals, err
}

// stopTicket ends t's tunnel with e (a spent quota, or a store down under
// a rule that fails closed), counted once.
func (l *Limiter) stopTicket(t *Ticket, e *Exceeded) {
	if t.m.Stopped() == nil {
		l.ruleStats(e.Limit).Stopped.Add(1)
	}
	t.m.stop(e)
}

// refresh tells the shared store that this process's tickets still hold
// their slots; a slot the store lost (a restart, an outage longer than
// SlotTTL) is taken again.
func (l *Limiter) refresh() {
	if l.shared == nil {
		return
	}
	held, tickets := l.heldSlots()
	if len(held) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*l.timeout)
	l.shared.Refresh(ctx, held) // missed: the slots lapse after SlotTTL, as a dead ferry's
	cancel()
	// A ticket that ended while the refresh was on its way may have been
	// taken again after its release: release it once more.
	for _, t := range tickets {
		if t.done.Load() {
			l.backlog.release(t.owner, t.slots, l.now())
		}
	}
}
