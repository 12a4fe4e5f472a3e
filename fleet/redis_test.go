package fleet

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"
)

// A Redis that answers late (a real one, stalled by CLIENT PAUSE) costs
// each caller its deadline and is taken for down only after downAfter
// slow answers in a row (README "Running a fleet"): one is a busy moment,
// not an outage. A slow answer is a net timeout as often as it is the
// context's: the conn's deadline is the context's, and which error comes
// first is a race.
func TestSlowAnswersMarkDownOnlyInARow(t *testing.T) {
	srv := startRedis(t)
	c, err := New(Config{Redis: srv.URL(), Timeout: 250 * time.Millisecond, Prefix: "test:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	admin := srv.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	pause := func(d time.Duration) {
		t.Helper()
		if err := admin.rdb.Do(ctx, "CLIENT", "PAUSE", strconv.FormatInt(d.Milliseconds(), 10), "ALL").Err(); err != nil {
			t.Fatal(err)
		}
	}
	ping := func(ctx context.Context) error { return c.rdb.Ping(ctx).Err() }

	pause(4 * c.timeout)
	if err := c.call(context.Background(), ping); err == nil {
		t.Fatal("a call answered during the pause")
	}
	if !c.Up() {
		t.Fatal("one slow answer marked Redis down")
	}
	if c.Slow() != 1 {
		t.Errorf("slow answers counted %d, want 1", c.Slow())
	}
	// Under a deadline past the pause: an answer, and the row starts again.
	if err := c.call(ctx, ping); err != nil {
		t.Fatal(err)
	}

	pause(4 * c.timeout)
	for i := 1; i <= downAfter; i++ {
		if err := c.call(context.Background(), ping); err == nil {
			t.Fatalf("call %d answered during the pause", i)
		}
		if up, want := c.Up(), i < downAfter; up != want {
			t.Fatalf("after %d slow answers in a row: up %v, want %v", i, up, want)
		}
	}
	if n := c.Slow(); n != 1+downAfter {
		t.Errorf("slow answers counted %d, want %d", n, 1+downAfter)
	}
}

// Background calls get the longer deadlines they are given, not the
// request's timeout: a heartbeat waits up to 20 times fleet.timeout, so a
// member does not drop out of the others' rings (moving its URLs) each
// time Redis is a little slow. Here Redis answers after 4 timeouts.
func TestHeartbeatWaitsItsOwnDeadline(t *testing.T) {
	srv := startRedis(t)
	c, err := New(Config{Redis: srv.URL(), Timeout: 100 * time.Millisecond, Prefix: "test:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	other := srv.client(t)
	other.prefix = c.prefix
	other.heartbeat(NewRing("127.0.0.1:1002", nil)) // the other member, announced
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	if err := other.rdb.Do(ctx, "CLIENT", "PAUSE", strconv.FormatInt((4*c.timeout).Milliseconds(), 10), "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	ring := NewRing("127.0.0.1:1001", nil)
	if !c.heartbeat(ring) {
		t.Fatalf("a heartbeat Redis answered within its deadline (20 timeouts) failed; members %v, slow answers %d", ring.Members(), c.Slow())
	}
	if want := []string{"127.0.0.1:1001", "127.0.0.1:1002"}; !slices.Equal(ring.Members(), want) {
		t.Errorf("members %v, want %v", ring.Members(), want)
	}
}
