package fleet

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/limit"
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

// A Redis that answers but will not do the work (a replica after a
// failover, a password changed under ferry) is as good
// as down: it is logged and shown as down, each limit does as its
// on_store_error says, and it is up again only once a write goes through,
// not at the first PONG. An error of ferry's own call (a script's) is not
// Redis's state.
func TestRedisRefusingWorkIsDown(t *testing.T) {
	tests := []struct {
		name         string
		break_, mend []string // commands to the server (CONFIG SET ..., REPLICAOF ...)
		kill         bool     // and ferry's connections are killed, so it logs in again
	}{
		{"a replica", []string{"REPLICAOF 127.0.0.1 1"}, []string{"REPLICAOF NO ONE"}, false},
		{"password changed", []string{"CONFIG SET requirepass changed"}, []string{"CONFIG SET requirepass \"\""}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startRedis(t)
			c := srv.client(t)
			states := make(chan error, 4)
			c.OnState = func(err error) { states <- err }
			admin := srv.client(t)
			admin.rdb.Do(context.Background(), "CLIENT", "SETNAME", "admin")
			do := func(cmds []string) {
				t.Helper()
				for _, cmd := range cmds {
					var args []any
					for _, a := range strings.Fields(cmd) {
						args = append(args, strings.Trim(a, `"`))
					}
					if err := admin.rdb.Do(context.Background(), args...).Err(); err != nil {
						t.Fatalf("%s: %v", cmd, err)
					}
				}
			}
			l := c.Limits()
			checks := []limit.Check{{Kind: limit.Slot, Key: "t|a", Max: 10}}
			if _, err := l.Admit(context.Background(), "a#1", checks); err != nil {
				t.Fatal(err)
			}
			do(tt.break_)
			if tt.kill {
				do([]string{"CLIENT KILL SKIPME yes TYPE normal"})
				do([]string{"AUTH changed"})
			}
			_, err := l.Admit(context.Background(), "a#2", checks)
			if err == nil {
				t.Fatal("an admission went through")
			}
			select {
			case s := <-states:
				if s == nil {
					t.Fatal("told up, want down")
				}
			case <-time.After(bound):
				t.Fatalf("Redis refusing the work (%v) was not taken for down", err)
			}
			if c.Up() {
				t.Fatal("Up, want down")
			}
			// What the reconnection checks: not a PONG, which this Redis gives.
			if err := c.Check(context.Background()); err == nil {
				t.Fatal("the check passed on a Redis that refuses the work")
			}
			do(tt.mend)
			select {
			case s := <-states:
				if s != nil {
					t.Fatalf("told down again (%v), want up", s)
				}
			case <-time.After(bound):
				t.Fatal("Redis doing the work again was not noticed")
			}
			if _, err := l.Admit(context.Background(), "a#3", checks); err != nil {
				t.Fatalf("after Redis came back: %v", err)
			}
		})
	}
}

// A caller that gives up (its client left, ferry drains) says nothing of
// Redis: however many in a row, Redis is not taken for slow or down.
func TestCallerGivingUpIsNoMiss(t *testing.T) {
	srv := startRedis(t)
	c := srv.client(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 2 * downAfter {
		if err := c.call(ctx, func(ctx context.Context) error { return c.rdb.Ping(ctx).Err() }); err == nil {
			t.Fatalf("call %d under a cancelled context succeeded", i)
		}
	}
	if !c.Up() || c.Slow() != 0 {
		t.Fatalf("after callers gave up: up %v, slow answers %d; want up, none", c.Up(), c.Slow())
	}
}
