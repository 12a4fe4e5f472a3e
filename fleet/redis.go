package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/limit"
	"github.com/redis/go-redis/v9"
)

// ErrDown is what every call answers, at once, while Redis is down; it
// is a limit.ErrNotSent.
var ErrDown = fmt.Errorf("fleet: redis is down (%w)", limit.ErrNotSent)

// Client is the fleet's Redis connection with its health.
type Client struct {
	rdb     redis.UniversalClient
	prefix  string
	timeout time.Duration

	// OnState, if set, is told when Redis goes down (with the error) and
	// when it is back (nil): the log line.
	OnState func(err error)

	down    atomic.Bool
	misses  atomic.Int32 // calls failed in a row; downAfter of them mark Redis down
	slowN   atomic.Int64 // calls Redis did not answer in time, for the metrics
	changes atomic.Int64 // state changes, for the metrics
	stop    chan struct{}
	wg      sync.WaitGroup
}

// quietLogger drops go-redis's own log lines (a refused dial, say): they
// would go to stderr outside ferry's JSON log, and the state changes they
// tell of are logged once by OnState.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quietLogger{}) }

// New connects lazily: it only parses the URL; the first call dials.
func New(c Config) (*Client, error) {
	opt, err := redis.ParseURL(c.Redis)
	if err != nil {
		return nil, fmt.Errorf("fleet.redis: %w", err)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	// A request waits on Redis a few ms at most and never for a retry:
	// a failed call answers as the limit's on_store_error says.
	opt.MaxRetries = -1
	opt.DialTimeout = max(10*timeout, 100*time.Millisecond)
	// Each call's context is its deadline (-1: no read or write timeout
	// of go-redis's own, which would end the longer deadlines of the
	// heartbeat, the reconnection's ping and the quota flushes at the
	// request's timeout); call gives one to a context without.
	opt.ReadTimeout, opt.WriteTimeout = -1, -1
	opt.ContextTimeoutEnabled = true
	opt.DisableIdentity = true
	opt.PoolTimeout = timeout
	// One dial per attempt: the reconnect loop is the back-off.
	opt.DialerRetries = 1
	return &Client{rdb: redis.NewClient(opt), prefix: c.Prefix, timeout: timeout, stop: make(chan struct{})}, nil
}

// Close stops the reconnect loop and closes the connections.
func (c *Client) Close() error {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.wg.Wait()
	return c.rdb.Close()
}

// Up reports whether Redis answered the last call.
func (c *Client) Up() bool { return !c.down.Load() }

// Changes counts the times Redis went down or came back.
func (c *Client) Changes() int64 { return c.changes.Load() }

// Slow counts the calls Redis did not answer in time: each made its
// caller fall back (a limit as its on_store_error says), whether or not
// Redis was then taken for down.
func (c *Client) Slow() int64 { return c.slowN.Load() }

// Timeout is the deadline of each call a request waits on.
func (c *Client) Timeout() time.Duration { return c.timeout }

// Check checks that Redis takes a write, under the caller's deadline: a
// PONG alone would come from a Redis that refuses every call of ferry's
// (a replica, one still loading its data, one that wants another
// password). It writes a key of ferry's, kept a second.
func (c *Client) Check(ctx context.Context) error {
	return c.rdb.Set(ctx, c.key("check"), "1", time.Second).Err()
}

// call runs f unless Redis is down, under the caller's deadline or, with
// none, the timeout, and marks Redis down when f fails (a slow answer
// only when downAfter in a row were).
func (c *Client) call(ctx context.Context, f func(ctx context.Context) error) error {
	if c.down.Load() {
		return ErrDown
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	err := f(ctx)
	switch {
	case err == nil, errors.Is(err, redis.Nil), isScriptError(err) && !refusing(err):
		c.misses.Store(0)
	case errors.Is(ctx.Err(), context.Canceled):
		// The caller gave up (its client left, ferry drains): that says
		// nothing of Redis.
	case slow(ctx, err):
		// One slow answer (a busy host) costs its caller the fallback,
		// not every request a reconnection: a refused dial or a broken
		// conn, or downAfter slow answers in a row, mark Redis down.
		c.slowN.Add(1)
		if c.misses.Add(1) >= downAfter {
			c.failed(err)
		}
	default:
		c.failed(err)
	}
	return err
}

// downAfter is how many calls in a row may miss their deadline before
// Redis is taken for down.
const downAfter = 3

// slow reports whether err says Redis did not answer in time rather than
// that the connection failed: the call's deadline passed (a net timeout,
// or the context's) or go-redis's wait for a pooled connection ran out.
func slow(ctx context.Context, err error) bool {
	var ne net.Error
	return ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, redis.ErrPoolTimeout) || errors.As(err, &ne) && ne.Timeout()
}

// refusing reports whether err is Redis's answer that it will do no work
// for ferry now, whatever the call: loading its data, a replica, out of
// memory or unable to save (writes refused), busy with a script, or a
// login or ACL refused. It is as good as down.
func refusing(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	code, _, _ := strings.Cut(re.Error(), " ")
	switch code {
	case "LOADING", "READONLY", "OOM", "MISCONF", "BUSY", "MASTERDOWN", "NOAUTH", "WRONGPASS", "NOPERM":
		return true
	}
	return false
}

// isScriptError is an error Redis answered (a bug in a script, a wrong
// type): Redis is up, unless the answer is that it is refusing work.
func isScriptError(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

// MarkDown marks Redis down, as a failed call does (a failed check at
// start), and starts reconnecting.
func (c *Client) MarkDown(err error) { c.failed(err) }

// failed marks Redis down and starts the reconnect loop, once per outage.
func (c *Client) failed(err error) {
	if !c.down.CompareAndSwap(false, true) {
		return
	}
	c.changes.Add(1)
	if c.OnState != nil {
		c.OnState(err)
	}
	c.wg.Add(1)
	go c.reconnect()
}

// reconnect checks with back-off (100ms doubling to 5s) until Redis takes
// a write again, then marks it up.
func (c *Client) reconnect() {
	defer c.wg.Done()
	wait := 100 * time.Millisecond
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(10*c.timeout, 100*time.Millisecond))
		err := c.Check(ctx)
		cancel()
		if err == nil {
			c.misses.Store(0)
			c.down.Store(false)
			c.changes.Add(1)
			if c.OnState != nil {
				c.OnState(nil)
			}
			return
		}
		wait = min(2*wait, 5*time.Second)
		t.Reset(wait)
	}
}

// key is a key of ferry's, under the prefix.
func (c *Client) key(k string) string { return c.prefix + k }
