package fleet

import (
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/limit"
)

func rules(t *testing.T, rcs ...limit.RuleConfig) *limit.Set {
	t.Helper()
	for i := range rcs {
		var d limit.RuleConfig
		d.SetDefaults()
		r := &rcs[i]
		r.Per, r.Window, r.Period = d.Per, d.Window, d.Period
		if r.OnStoreError == "" {
			r.OnStoreError = d.OnStoreError
		}
	}
	set := limit.Compile(rcs, acl.Env{}, "UTC", func(k, msg string) { t.Fatalf("%s: %s", k, msg) })
	if set == nil {
		t.Fatal("no rules")
	}
	return set
}

func q(user string) *acl.Query {
	return &acl.Query{Host: "example.com", Port: 443, Proto: "connect", User: user, Client: netip.MustParseAddr("192.0.2.1")}
}

// ferryOn is one ferry's limiter on the shared Redis.
func ferryOn(t *testing.T, c *Client, name string) *limit.Limiter {
	t.Helper()
	l := limit.NewLimiter(limit.Options{Shared: c.Limits(), Timeout: c.Timeout(), Owner: name})
	t.Cleanup(l.Close)
	return l
}

// Two ferries on one Redis hold one per-user tunnel limit between them,
// and a slot one gives back the other can take.
func TestSharedTunnels(t *testing.T) {
	srv := startRedis(t)
	a, b := ferryOn(t, srv.client(t), "a"), ferryOn(t, srv.client(t), "b")
	set := rules(t, limit.RuleConfig{Name: "two", Tunnels: 2})
	ctx := context.Background()
	ta, err := a.Admit(ctx, set, q("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Admit(ctx, set, q("alice")); err != nil {
		t.Fatal(err)
	}
	_, err = a.Admit(ctx, set, q("alice"))
	var e *limit.Exceeded
	if !errors.As(err, &e) || e.Kind != limit.Slot || e.StoreDown {
		t.Fatalf("third tunnel on ferry a: %v, want over the shared limit", err)
	}
	if _, err := b.Admit(ctx, set, q("bob")); err != nil {
		t.Errorf("bob refused: %v", err)
	}
	ta.Done()
	if _, err := b.Admit(ctx, set, q("alice")); err != nil {
		t.Errorf("a slot given back on ferry a not taken on ferry b: %v", err)
	}
}

// The slots of a ferry that died (it stops refreshing) lapse; a live
// ferry's refreshed slots do not. Redis's clock decides, so the test
// waits for the dead slot's lapse (bounded), not for a time: the live
// slot, taken first with the same TTL, would have lapsed by then too had
// its refresh not pushed it an hour on.
func TestSlotsOfADeadFerryLapse(t *testing.T) {
	srv := startRedis(t)
	c := srv.client(t)
	store := c.Limits()
	ctx := context.Background()
	live := []limit.Check{{Kind: limit.Slot, Key: "t|x|u:alice", Max: 1}}
	dead := []limit.Check{{Kind: limit.Slot, Key: "t|x|u:bob", Max: 1}}
	store.slotTTL = 100 * time.Millisecond
	if r, err := store.Admit(ctx, "live#1", live); err != nil || r != -1 {
		t.Fatalf("admit: %d, %v", r, err)
	}
	if r, err := store.Admit(ctx, "dead#1", dead); err != nil || r != -1 {
		t.Fatalf("admit: %d, %v", r, err)
	}
	if r, _ := store.Admit(ctx, "other#1", dead); r != 0 {
		t.Fatal("a held slot was given twice")
	}
	store.slotTTL = time.Hour
	if err := store.Refresh(ctx, map[string][]string{"live#1": {"t|x|u:alice"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(bound)
	for {
		r, err := store.Admit(ctx, "other#1", dead)
		if err != nil {
			t.Fatal(err)
		}
		if r == -1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a dead ferry's slot did not lapse")
		}
		<-time.After(20 * time.Millisecond) // polling Redis, bounded by deadline
	}
	if r, _ := store.Admit(ctx, "other#1", live); r != 0 {
		t.Error("a refreshed slot lapsed")
	}
}

// A refresh takes again a slot Redis lost (a restart, an outage longer
// than the slot TTL) while its tunnel is open (issue 18 review, Low 5).
func TestRefreshRetakesLostSlot(t *testing.T) {
	srv := startRedis(t)
	c := srv.client(t)
	store := c.Limits()
	ctx := context.Background()
	check := []limit.Check{{Kind: limit.Slot, Key: "t|x|u:alice", Max: 1}}
	if r, err := store.Admit(ctx, "live#1", check); err != nil || r != -1 {
		t.Fatalf("admit: %d, %v", r, err)
	}
	if err := c.rdb.Del(ctx, c.key("t|x|u:alice")).Err(); err != nil { // as a restart without persistence
		t.Fatal(err)
	}
	if err := store.Refresh(ctx, map[string][]string{"live#1": {"t|x|u:alice"}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := store.Admit(ctx, "other#1", check); r != 0 {
		t.Error("a slot lost by Redis was not taken again by its refresh: given to another")
	}
}

// A byte quota holds across ferries: bytes moved through one count
// against a tunnel on the other, which is stopped.
func TestSharedQuota(t *testing.T) {
	srv := startRedis(t)
	a, b := ferryOn(t, srv.client(t), "a"), ferryOn(t, srv.client(t), "b")
	set := rules(t, limit.RuleConfig{Name: "daily", Bytes: 10 << 20})
	ctx := context.Background()
	ta, err := a.Admit(ctx, set, q("alice"))
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.Admit(ctx, set, q("alice"))
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	tb.Meter().OnStop(func(err error) { stopped <- err })
	ta.Count(8 << 20) // 8 MiB through ferry a
	ta.Done()
	a.Flush()
	// Ferry b's tunnel goes on moving a MiB at a time, each flushed: it
	// must be stopped once the fleet's total reaches 10 MiB, not after 10
	// MiB of its own.
	var moved int64
	var err2 error
	for err2 == nil && moved < 64<<20 {
		tb.Count(1 << 20)
		moved += 1 << 20
		b.Flush() // stops the tunnel, if it does, before it returns
		err2 = tb.Meter().Stopped()
	}
	select {
	case got := <-stopped: // the tunnel's stop hook runs on its own goroutine
		if got != err2 {
			t.Errorf("the stop hook was told %v, Stopped says %v", got, err2)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the tunnel's stop hook was not called")
	}
	var e *limit.Exceeded
	if !errors.As(err2, &e) || e.Limit != "daily" {
		t.Fatalf("ferry b's tunnel after %d MiB: %v, want stopped by the quota", moved>>20, err2)
	}
	if moved != 2<<20 {
		t.Errorf("ferry b's tunnel was stopped after %d MiB: the quota is 10 MiB, 8 of them spent on ferry a", moved>>20)
	}
	if _, err := a.Admit(ctx, set, q("alice")); err == nil {
		t.Error("a spent fleet quota admitted a new tunnel")
	}
}

// With Redis gone: a fail-closed limit refuses, a fail-open one counts in
// process, no call waits (ErrDown at once), the state change is told once,
// and when Redis is back the shared counters are used again.
func TestRedisDownAndBack(t *testing.T) {
	srv := startRedis(t)
	c := srv.client(t)
	var downs, ups atomic.Int32
	changed := make(chan bool, 4)
	c.OnState = func(err error) {
		if err != nil {
			downs.Add(1)
		} else {
			ups.Add(1)
		}
		changed <- err == nil
	}
	l := ferryOn(t, c, "a")
	set := rules(t,
		limit.RuleConfig{Name: "open", Tunnels: 1, OnStoreError: limit.FailOpen},
		limit.RuleConfig{Name: "closed", Tunnels: 100, OnStoreError: limit.FailClosed, Match: acl.Match{User: acl.Values{"bob"}}},
	)
	ctx := context.Background()
	srv.Kill()
	// The first call finds Redis gone (within its deadline) and marks it
	// down; alice's fail-open limit then counts in this process.
	if _, err := l.Admit(ctx, set, q("alice")); err != nil {
		t.Fatalf("fail-open limit refused while Redis is down: %v", err)
	}
	select {
	case up := <-changed:
		if up {
			t.Fatal("told up, want down")
		}
	case <-time.After(bound):
		t.Fatal("Redis going down was not told")
	}
	// Known down, the client answers at once without Redis (ErrDown).
	if c.Up() {
		t.Fatal("the client does not know Redis is down")
	}
	if err := c.call(ctx, func(context.Context) error { t.Error("Redis was called while down"); return nil }); !errors.Is(err, ErrDown) {
		t.Errorf("a call while down: %v, want ErrDown", err)
	}
	_, err := l.Admit(ctx, set, q("bob"))
	var e *limit.Exceeded
	if !errors.As(err, &e) || !e.StoreDown || e.Limit != "closed" {
		t.Fatalf("fail-closed limit while Redis is down: %v", err)
	}
	if _, err := l.Admit(ctx, set, q("alice")); !errors.As(err, &e) || e.StoreDown {
		t.Errorf("fail-open limit not counted in process: %v", err)
	}
	srv.Restart()
	select {
	case up := <-changed:
		if !up {
			t.Fatal("told down again, want up")
		}
	case <-time.After(bound):
		t.Fatal("Redis coming back was not noticed")
	}
	if _, err := l.Admit(ctx, set, q("bob")); err != nil {
		t.Errorf("fail-closed limit after Redis came back: %v", err)
	}
	if downs.Load() != 1 || ups.Load() != 1 || c.Changes() != 2 {
		t.Errorf("state changes: %d down, %d up, %d counted; want one each", downs.Load(), ups.Load(), c.Changes())
	}
}
