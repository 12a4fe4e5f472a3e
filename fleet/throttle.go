package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/ferry-proxy/ferry/auth"
	"github.com/redis/go-redis/v9"
)

// Throttle is the login throttle's fleet-wide count of failures
// (tunnel.SharedFailures): per client address and per user name, in
// windows of a minute, one MGET before a password check and one
// pipelined INCR pair after a failure.
type Throttle struct {
	c   *Client
	now func() time.Time
}

// Throttle is the client's tunnel.SharedFailures.
func (c *Client) Throttle() *Throttle { return &Throttle{c: c, now: time.Now} }

// keys are the client's and the user's counters of the minute at now; a
// user name is hashed: a key of bounded size that names nobody.
func (t *Throttle) keys(client netip.Prefix, user string, now time.Time) (ck, uk string, left time.Duration) {
	minute := now.Unix() / 60
	left = time.Duration(60-now.Unix()%60) * time.Second
	h := sha256.Sum256([]byte(user))
	m := strconv.FormatInt(minute, 10)
	return t.c.key("th|c|" + m + "|" + client.String()), t.c.key("th|u|" + m + "|" + hex.EncodeToString(h[:12])), left
}

// Over refuses a login when the fleet counted the throttle's failures
// from its client, or for its user, this minute.
func (t *Throttle) Over(ctx context.Context, client netip.Prefix, user string, th auth.Throttle, skipUser bool) (string, time.Duration, error) {
	if th.ClientFailures == 0 && (th.UserFailures == 0 || skipUser) {
		return "", 0, nil
	}
	ck, uk, left := t.keys(client, user, t.now())
	// A request waits on it: the timeout at most, whatever its context.
	ctx, cancel := context.WithTimeout(ctx, t.c.timeout)
	defer cancel()
	var vals []any
	err := t.c.call(ctx, func(ctx context.Context) error {
		var err error
		vals, err = t.c.rdb.MGet(ctx, ck, uk).Result()
		return err
	})
	if err != nil {
		return "", 0, err
	}
	count := func(v any) int {
		s, _ := v.(string)
		n, _ := strconv.Atoi(s)
		return n
	}
	if th.ClientFailures > 0 && count(vals[0]) >= th.ClientFailures {
		return fmt.Sprintf("too many failed logins from %s across the fleet (limit %d a minute)", client, th.ClientFailures), left, nil
	}
	if th.UserFailures > 0 && !skipUser && count(vals[1]) >= th.UserFailures {
		return fmt.Sprintf("too many failed logins for user %q across the fleet (limit %d a minute)", user, th.UserFailures), left, nil
	}
	return "", 0, nil
}

// Failed counts a failure for the client and the user.
func (t *Throttle) Failed(ctx context.Context, client netip.Prefix, user string) {
	ck, uk, _ := t.keys(client, user, t.now())
	ctx, cancel := context.WithTimeout(ctx, t.c.timeout)
	defer cancel()
	t.c.call(ctx, func(ctx context.Context) error {
		_, err := t.c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range []string{ck, uk} {
				p.Incr(ctx, k)
				p.Expire(ctx, k, 2*time.Minute)
			}
			return nil
		})
		return err
	})
}
