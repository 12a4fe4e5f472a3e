package fleet

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Membership by heartbeat: each member writes its peer address into a
// sorted set, scored by when it lapses (Redis's clock), every
// HeartbeatEvery, and reads the members that have not lapsed into its
// Ring. A member that stops (killed, or stopped) drops out of every ring
// within MemberTTL, and the URLs it owned move to the others.
const (
	HeartbeatEvery = time.Second
	MemberTTL      = 3 * HeartbeatEvery
	// resolveEvery heartbeats the members' names are looked up again.
	resolveEvery = 30
)

// heartbeatScript adds ARGV[1] to the set scored now+ttl, drops the lapsed
// members and returns the rest.
var heartbeatScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
`)

// Members keeps ring's list from Redis until stop: a heartbeat at once,
// then every HeartbeatEvery. While Redis is down the last list stands.
// changed, if not nil, is told each new list (the log line).
func (c *Client) Members(ring *Ring, changed func([]string)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(HeartbeatEvery)
		defer t.Stop()
		var resolving sync.WaitGroup
		defer resolving.Wait()
		for n := 1; ; n++ {
			if c.heartbeat(ring) && changed != nil {
				changed(ring.Members())
			}
			if n%resolveEvery == 0 {
				// Off the heartbeat's path: a slow lookup must not let
				// this member's entry lapse.
				resolving.Wait()
				resolving.Go(ring.Resolve)
			}
			select {
			case <-done:
				c.leave(ring)
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// heartbeat announces this member and reads the others into ring; it
// reports whether the list changed.
func (c *Client) heartbeat(ring *Ring) bool {
	ctx, cancel := context.WithTimeout(context.Background(), max(20*c.timeout, 100*time.Millisecond))
	defer cancel()
	var members []string
	err := c.call(ctx, func(ctx context.Context) error {
		var err error
		members, err = heartbeatScript.Run(ctx, c.rdb, []string{c.key("members")},
			ring.Self(), strconv.FormatInt(MemberTTL.Milliseconds(), 10)).StringSlice()
		return err
	})
	if err != nil {
		return false
	}
	old := ring.Members()
	ring.Set(members)
	return !slices.Equal(old, ring.Members())
}

// leave takes this member out at once (a clean stop), so that its URLs
// move before its heartbeat would lapse.
func (c *Client) leave(ring *Ring) {
	ctx, cancel := context.WithTimeout(context.Background(), max(20*c.timeout, 100*time.Millisecond))
	defer cancel()
	c.call(ctx, func(ctx context.Context) error { return c.rdb.ZRem(ctx, c.key("members"), ring.Self()).Err() })
}
