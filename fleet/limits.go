package fleet

import (
	"context"
	"strconv"
	"time"

	"github.com/ferry-proxy/ferry/limit"
	"github.com/redis/go-redis/v9"
)

// Limits is the fleet's limit.Store: one round trip per decision (a Lua
// script, atomic), the byte counters and slot refreshes pipelined.
//
// A Slot key is a sorted set of the tickets holding a slot, scored by
// when the slot lapses (Redis's clock): a ferry that dies stops
// refreshing its tickets, and their slots go within limit.SlotTTL. Rate
// and Quota keys are counters that expire with their window or period.
// The keys of one decision may be on different nodes, so a Redis Cluster
// is not supported: one Redis, with replicas or Sentinel for failover.
type Limits struct {
	c       *Client
	slotTTL time.Duration // limit.SlotTTL; tests shorten it
}

// Limits is the client's limit.Store.
func (c *Client) Limits() *Limits { return &Limits{c: c, slotTTL: limit.SlotTTL} }

var _ limit.Store = (*Limits)(nil)

// admitScript checks every limit, then takes them all, or returns the
// 0-based index of the first over its max. ARGV: slot TTL in ms, owner,
// then per key its kind (s, r or q), max and TTL in ms.
var admitScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local slotTTL = tonumber(ARGV[1])
local owner = ARGV[2]
for i = 1, #KEYS do
  local kind, max = ARGV[3 * i], tonumber(ARGV[3 * i + 1])
  if kind == 's' then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    if redis.call('ZCARD', KEYS[i]) >= max then return i - 1 end
  elseif tonumber(redis.call('GET', KEYS[i]) or '0') >= max then
    return i - 1
  end
end
for i = 1, #KEYS do
  local kind, ttl = ARGV[3 * i], tonumber(ARGV[3 * i + 2])
  if kind == 's' then
    redis.call('ZADD', KEYS[i], now + slotTTL, owner)
    redis.call('PEXPIRE', KEYS[i], slotTTL)
  elseif kind == 'r' then
    if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
return -1
`)

// refreshScript pushes the lapse of slots still held, and takes again a
// slot Redis lost (a restart, an outage past the slot TTL): the tunnel
// holding it is open. KEYS: the slot keys; ARGV: slot TTL in ms, then the
// owner of each key.
var refreshScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local slotTTL = tonumber(ARGV[1])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + slotTTL, ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[i], slotTTL)
end
return 0
`)

var kindCode = [...]string{limit.Slot: "s", limit.Rate: "r", limit.Quota: "q"}

// Admit runs the checks in one script.
func (l *Limits) Admit(ctx context.Context, owner string, checks []limit.Check) (int, error) {
	keys := make([]string, len(checks))
	args := make([]any, 2, 2+3*len(checks))
	args[0], args[1] = l.slotTTL.Milliseconds(), owner
	for i, ch := range checks {
		keys[i] = l.c.key(ch.Key)
		args = append(args, kindCode[ch.Kind], ch.Max, max(ch.TTL.Milliseconds(), 1))
	}
	var refused int64
	err := l.c.call(ctx, func(ctx context.Context) error {
		var err error
		refused, err = admitScript.Run(ctx, l.c.rdb, keys, args...).Int64()
		return err
	})
	return int(refused), err
}

// Release takes owner's tickets out of the slot sets, in one pipeline.
func (l *Limits) Release(ctx context.Context, owner string, keys []string) error {
	return l.c.call(ctx, func(ctx context.Context) error {
		_, err := l.c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.ZRem(ctx, l.c.key(k), owner)
			}
			return nil
		})
		return err
	})
}

// AddBytes adds to the byte counters in one pipeline: INCRBY, and the
// expiry at the period's end.
func (l *Limits) AddBytes(ctx context.Context, adds []limit.Add) ([]int64, error) {
	cmds := make([]*redis.IntCmd, len(adds))
	err := l.c.call(ctx, func(ctx context.Context) error {
		_, err := l.c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, a := range adds {
				k := l.c.key(a.Key)
				cmds[i] = p.IncrBy(ctx, k, a.N)
				p.PExpire(ctx, k, a.TTL)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(adds))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// Refresh pushes the lapse of every slot this ferry holds, in one script.
func (l *Limits) Refresh(ctx context.Context, held map[string][]string) error {
	var keys []string
	args := []any{strconv.FormatInt(l.slotTTL.Milliseconds(), 10)}
	for owner, ks := range held {
		for _, k := range ks {
			keys = append(keys, l.c.key(k))
			args = append(args, owner)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	return l.c.call(ctx, func(ctx context.Context) error {
		return refreshScript.Run(ctx, l.c.rdb, keys, args...).Err()
	})
}
