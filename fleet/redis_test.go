package fleet

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// A Redis that answers late (a real one, stalled by CLIENT PAUSE) costs
// each caller its deadline and is taken for down only after downAfter
// slow answers in a row (README "Running a fleet"): one is a busy moment,
// not an outage. The heartbeat waits longer than the client's read
// timeout, so its slow answer is a read timeout under a live context: it
// must count as slow, not as a broken connection.
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
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	pause := func(d time.Duration) {
		t.Helper()
		if err := admin.rdb.Do(ctx, "CLIENT", "PAUSE", strconv.FormatInt(d.Milliseconds(), 10), "ALL").Err(); err != nil {
			t.Fatal(err)
		}
	}
	// waitUnpaused returns once Redis answers again (the pause lapsed):
	// each ping waits the client's read timeout at most.
	waitUnpaused := func() {
		t.Helper()
		for range bound / c.timeout {
			if c.rdb.Ping(ctx).Err() == nil {
				return
			}
		}
		t.Fatal("Redis still paused")
	}

	ring := NewRing("127.0.0.1:1001", nil)
	pause(time.Second)
	if c.heartbeat(ring) {
		t.Error("a heartbeat Redis did not answer in time changed the member list")
	}
	if !c.Up() {
		t.Fatal("one slow answer (the heartbeat's) marked Redis down")
	}
	if c.Slow() != 1 {
		t.Errorf("slow answers counted %d, want 1", c.Slow())
	}
	waitUnpaused()
	ping := func(ctx context.Context) error { return c.rdb.Ping(ctx).Err() }
	if err := c.call(ctx, ping); err != nil { // an answer: the row starts again
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
