package tunnel

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ferry-proxy/ferry/auth"
)

// checker is an Authenticator whose password is "right" for every user,
// which counts the checks it does. A check holds one of two workers (as
// auth.Users holds a bcrypt slot); with started set, it is sent there as
// it begins and lasts until the test closes its release.
type checker struct {
	throttle auth.Throttle
	cached   map[string]bool // user:password pairs verified lately
	checks   atomic.Int64
	workers  chan struct{}
	started  chan pending
}

type pending struct {
	user    string
	release chan struct{}
}

func newChecker(t auth.Throttle) *checker {
	return &checker{throttle: t, cached: map[string]bool{}, workers: make(chan struct{}, 2)}
}

func (c *checker) Cached(user, password string) bool { return c.cached[user+":"+password] }

func (c *checker) Throttle() auth.Throttle { return c.throttle }

func (c *checker) Verify(ctx context.Context, user, password string) (bool, error) {
	select {
	case c.workers <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-c.workers }()
	c.checks.Add(1)
	if c.started != nil {
		p := pending{user, make(chan struct{})}
		c.started <- p
		<-p.release
	}
	return password == "right", nil
}

var testThrottle = auth.Throttle{ClientFailures: 30, ClientChecks: 2, UserFailures: 10}

func login(e *Engine, client, user, password string) error {
	req := &Request{Client: netip.MustParseAddrPort(client)}
	return e.Authenticate(context.Background(), req, Credentials{true, user, password})
}

// TestThrottleParallelGuessing: 200 goroutines from one address guess
// passwords (of 200 user names, so that only the client's limit holds)
// for two minutes, each retrying every 250 ms whatever it is told. The
// passwords actually checked stay within the client's budget: 30 at once
// and 30 a minute after (issue 20 item 5). Virtual time (synctest).
func TestThrottleParallelGuessing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newChecker(testThrottle)
		e := New(Config{}, &Policy{Users: c})
		var refused, wrong atomic.Int64
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Go(func() {
				for n, start := 0, time.Now(); time.Since(start) < 2*time.Minute; n++ {
					err := login(e, "192.0.2.1:1000", fmt.Sprint("user", i), fmt.Sprint("guess", n))
					switch KindOf(err) {
					case AuthNeeded:
						wrong.Add(1)
					case Throttled:
						refused.Add(1)
						if d := RetryAfterOf(err); d < time.Second {
							t.Errorf("refused with Retry-After %v", d)
						}
					default:
						t.Errorf("guess answered %v", err)
					}
					time.Sleep(250 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		checks := c.checks.Load()
		t.Logf("%d checked, %d refused", checks, refused.Load())
		if max := int64(30 + 2*30); checks > max || checks < 30 {
			t.Fatalf("%d passwords checked in 2 minutes, want 30 to %d", checks, max)
		}
		if wrong.Load() != checks || refused.Load() == 0 {
			t.Fatalf("%d wrong, %d refused", wrong.Load(), refused.Load())
		}
	})
}

// TestThrottleSuccessDoesNotReset: a client that logs in to its own
// account between guesses does not earn more guesses by it.
func TestThrottleSuccessDoesNotReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newChecker(auth.Throttle{ClientFailures: 30})
		e := New(Config{}, &Policy{Users: c})
		var wrong, own int
		for n, start := 0, time.Now(); time.Since(start) < time.Minute; n++ {
			if KindOf(login(e, "192.0.2.1:1", "victim", fmt.Sprint("guess", n))) == AuthNeeded {
				wrong++
			}
			// Verified (not cached), so it needs a token too: granted
			// while there are some, refused after.
			switch err := login(e, "192.0.2.1:1", "mallory", "right"); KindOf(err) {
			case OK:
				own++
			case Throttled:
			default:
				t.Fatalf("own login: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if wrong > 30+30 || own == 0 {
			t.Fatalf("%d guesses checked in a minute (want at most 60), %d own logins", wrong, own)
		}
	})
}

// TestThrottleUserLimit: one account guessed from 100 addresses gets at
// most its own budget of checks; its owner, from the address it logged
// in from, is still checked and let in.
func TestThrottleUserLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newChecker(testThrottle)
		e := New(Config{}, &Policy{Users: c})
		if err := login(e, "198.51.100.7:1", "alice", "right"); err != nil {
			t.Fatal(err)
		}
		before := c.checks.Load()
		var wg sync.WaitGroup
		for i := range 100 {
			wg.Go(func() {
				for n, start := 0, time.Now(); time.Since(start) < time.Minute; n++ {
					login(e, fmt.Sprintf("203.0.113.%d:1", i), "alice", fmt.Sprint("guess", n))
					time.Sleep(time.Second)
				}
			})
		}
		wg.Wait()
		if n := c.checks.Load() - before; n > 10+10 {
			t.Fatalf("%d guesses at alice checked in a minute, want at most 20", n)
		}
		before = c.checks.Load()
		if err := login(e, "198.51.100.7:1", "alice", "right"); err != nil || c.checks.Load() != before+1 {
			t.Fatalf("alice from her own address: %v", err)
		}
		// Guesses from fresh addresses are refused within the budget.
		for i := 0; ; i++ {
			err := login(e, fmt.Sprintf("198.51.100.%d:1", 100+i), "alice", "guess")
			if KindOf(err) == Throttled && strings.Contains(err.Error(), `for user "alice"`) {
				break
			}
			if i == 10 {
				t.Fatalf("11 guesses at alice from fresh addresses checked, the last: %v", err)
			}
		}
	})
}

// TestThrottleNoStarvation: one client floods with parallel guesses while
// every check is slow; another client's first login is checked as soon as
// one of the flood's checks ends, not after the flood's queue.
func TestThrottleNoStarvation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newChecker(testThrottle)
		c.started = make(chan pending, 100)
		e := New(Config{}, &Policy{Users: c})
		flood := make(chan error, 50)
		for n := range 50 {
			go func() { flood <- login(e, "192.0.2.1:1", fmt.Sprint("user", n), "guess") }()
		}
		var queue []pending // checks begun and not ended
		answered := 0
		defer func() { // end every check, and wait for every answer
			for _, p := range queue {
				close(p.release)
			}
			for answered < 50 {
				select {
				case p := <-c.started:
					close(p.release)
				case <-flood:
					answered++
				}
			}
		}()
		synctest.Wait()
		// Two checking, eight waiting their turn, the rest refused at once.
		for len(c.started) > 0 {
			queue = append(queue, <-c.started)
		}
		if len(queue) != 2 {
			t.Errorf("%d flood checks started, want 2", len(queue))
		}
	refusals:
		for range 40 { // answered after their hold: virtual time runs on
			select {
			case err := <-flood:
				answered++
				if KindOf(err) != Throttled || !strings.Contains(err.Error(), "in progress") {
					t.Errorf("flood answered %v", err)
				}
			case <-time.After(time.Minute):
				t.Errorf("%d of the flood answered at once, want 40", answered)
				break refusals
			}
		}
		victim := make(chan error, 1)
		go func() { victim <- login(e, "198.51.100.7:1", "bob", "right") }()
		synctest.Wait()
		// End the flood's checks one by one, oldest first, until the
		// victim's begins.
		ended := 0
		for ended < 50 {
			for len(c.started) > 0 {
				queue = append(queue, <-c.started)
			}
			if i := slices.IndexFunc(queue, func(p pending) bool { return p.user == "bob" }); i >= 0 {
				close(queue[i].release)
				queue = slices.Delete(queue, i, i+1)
				break
			}
			if len(queue) == 0 {
				t.Fatal("no check in progress and the victim's not begun")
			}
			close(queue[0].release)
			queue = queue[1:]
			ended++
			synctest.Wait()
		}
		if err := <-victim; err != nil {
			t.Fatalf("victim: %v", err)
		}
		if ended != 1 {
			t.Fatalf("the victim was checked after %d of the flood's checks ended, want 1", ended)
		}
	})
}

// TestThrottleCacheHits: behind one address (a NAT), a guessing client is
// refused while its neighbours whose credentials were verified lately go
// on, with no check. A cached user name that is being guessed from that
// address is refused too: else a cache hit would tell the guesser, free
// of any limit, that a guess is right.
func TestThrottleCacheHits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newChecker(auth.Throttle{ClientFailures: 3})
		c.cached["carol:right"], c.cached["bob:right"] = true, true
		e := New(Config{}, &Policy{Users: c})
		for n := range 3 {
			if err := login(e, "192.0.2.1:1", "mallory", fmt.Sprint("guess", n)); KindOf(err) != AuthNeeded {
				t.Fatalf("guess %d: %v", n, err)
			}
		}
		if err := login(e, "192.0.2.1:1", "mallory", "guess"); KindOf(err) != Throttled {
			t.Fatalf("fourth guess: %v", err)
		}
		checks := c.checks.Load()
		if err := login(e, "192.0.2.1:2", "carol", "right"); err != nil || c.checks.Load() != checks {
			t.Fatalf("cached neighbour: %v, %d checks", err, c.checks.Load()-checks)
		}
		if err := login(e, "192.0.2.1:1", "bob", "guess"); KindOf(err) != Throttled {
			t.Fatalf("guess at bob: %v", err)
		}
		if err := login(e, "192.0.2.1:1", "bob", "right"); KindOf(err) != Throttled {
			t.Fatalf("bob's cached password from the throttled address: %v, want refused like any guess", err)
		}
		if err := login(e, "198.51.100.7:1", "bob", "right"); err != nil {
			t.Fatalf("bob from another address: %v", err)
		}
		// A minute on, the marks have expired and tokens are back.
		time.Sleep(markWindow + time.Second)
		if err := login(e, "192.0.2.1:1", "bob", "right"); err != nil || c.checks.Load() != checks {
			t.Fatalf("bob a minute later: %v", err)
		}
	})
}

// TestThrottleRetryAfter: a refusal says when a token is back.
func TestThrottleRetryAfter(t *testing.T) {
	l := newFailLimiter()
	now := time.Unix(0, 0)
	l.now = func() time.Time { return now }
	th := auth.Throttle{ClientFailures: 30, UserFailures: 6}
	try := func(client, user string) error {
		a, err := l.admit(context.Background(), netip.MustParseAddr(client), user, th)
		if err == nil {
			a.done(failed)
		}
		return err
	}
	for n := range 30 {
		try("192.0.2.1", fmt.Sprint("u", n))
	}
	err := try("192.0.2.1", "u")
	if d := RetryAfterOf(err); d != 2*time.Second || !strings.Contains(err.Error(), "from 192.0.2.1 (limit 30 a minute)") {
		t.Fatalf("client limit: %v, Retry-After %v", err, d)
	}
	for n := range 6 {
		try(fmt.Sprintf("198.51.100.%d", n), "bob")
	}
	err = try("198.51.100.99", "bob")
	if d := RetryAfterOf(err); d != 10*time.Second || !strings.Contains(err.Error(), `for user "bob" (limit 6 a minute)`) {
		t.Fatalf("user limit: %v, Retry-After %v", err, d)
	}
	if RetryAfterOf(Errorf(AuthNeeded, "x")) != 0 {
		t.Fatal("Retry-After on another error")
	}
}

// TestThrottleHold: a refusal is answered after its Retry-After, at most
// refusalHold, and then tells what is left of it; when the client's
// context ends first, at once.
func TestThrottleHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := New(Config{}, &Policy{Users: newChecker(auth.Throttle{ClientFailures: 30, UserFailures: 6})})
		for n := range 30 {
			login(e, "192.0.2.1:1", fmt.Sprint("u", n), "x")
		}
		start := time.Now()
		err := login(e, "192.0.2.1:1", "u", "x")
		if took, d := time.Since(start), RetryAfterOf(err); took != 2*time.Second || d != time.Second {
			t.Fatalf("client limit: answered after %v with Retry-After %v, want 2s and 1s", took, d)
		}
		for n := range 6 {
			login(e, fmt.Sprintf("198.51.100.%d:1", n), "bob", "x")
		}
		start = time.Now()
		err = login(e, "198.51.100.99:1", "bob", "x")
		if took, d := time.Since(start), RetryAfterOf(err); took != refusalHold || d != 10*time.Second-refusalHold {
			t.Fatalf("user limit: answered after %v with Retry-After %v", took, d)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		start = time.Now()
		req := &Request{Client: netip.MustParseAddrPort("198.51.100.98:1")}
		err = e.Authenticate(ctx, req, Credentials{true, "bob", "x"})
		if took := time.Since(start); took != 0 || KindOf(err) != Throttled {
			t.Fatalf("client gone: answered after %v: %v", took, err)
		}
	})
}

// TestThrottleWaitEndsWithContext: an attempt waiting for its client's
// check slot ends with its context and gives its tokens back.
func TestThrottleWaitEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newChecker(auth.Throttle{ClientFailures: 3, ClientChecks: 1})
		c.started = make(chan pending, 1)
		e := New(Config{}, &Policy{Users: c})
		first := make(chan error)
		go func() { first <- login(e, "192.0.2.1:1", "a", "x") }()
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req := &Request{Client: netip.MustParseAddrPort("192.0.2.1:2")}
		if err := e.Authenticate(ctx, req, Credentials{true, "b", "x"}); err != context.DeadlineExceeded {
			t.Fatalf("err %v, want the context's", err)
		}
		close((<-c.started).release)
		<-first
		// One failure spent: two tokens left.
		c.started = nil
		for n := range 2 {
			if err := login(e, "192.0.2.1:1", "c", "x"); KindOf(err) != AuthNeeded {
				t.Fatalf("attempt %d: %v", n, err)
			}
		}
		if err := login(e, "192.0.2.1:1", "c", "x"); KindOf(err) != Throttled {
			t.Fatalf("past the budget: %v", err)
		}
	})
}

// TestThrottleIPv6: an IPv6 client is its /64.
func TestThrottleIPv6(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := New(Config{}, &Policy{Users: newChecker(auth.Throttle{ClientFailures: 1})})
		login(e, "[2001:db8::1]:1", "a", "x")
		if err := login(e, "[2001:db8::2]:1", "a", "x"); KindOf(err) != Throttled {
			t.Fatalf("same /64: %v", err)
		}
		if err := login(e, "[2001:db8:0:1::1]:1", "a", "x"); KindOf(err) != AuthNeeded {
			t.Fatalf("next /64: %v", err)
		}
	})
}

// TestThrottleTablesBounded: a spray of addresses and user names keeps
// both tables within their bound; the stalest go, a client with a check
// in progress stays.
func TestThrottleTablesBounded(t *testing.T) {
	l := newFailLimiter()
	l.max = 100
	now := time.Unix(0, 0)
	l.now = func() time.Time { return now }
	th := auth.Throttle{ClientFailures: 5, UserFailures: 5, ClientChecks: 1}
	busy, err := l.admit(context.Background(), netip.MustParseAddr("10.255.0.0"), "busy", th)
	if err != nil {
		t.Fatal(err)
	}
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}) }
	for i := range l.max * 5 {
		now = now.Add(time.Millisecond)
		a, err := l.admit(context.Background(), addr(i), fmt.Sprint("user", i), th)
		if err != nil {
			t.Fatal(err)
		}
		a.done(failed)
		if len(l.clients) > l.max || len(l.users) > l.max {
			t.Fatalf("tables grew to %d clients, %d users", len(l.clients), len(l.users))
		}
	}
	if l.clients[clientKey(addr(0))] != nil || l.clients[clientKey(addr(l.max*5-1))] == nil {
		t.Fatal("the stalest entry was kept or the newest lost")
	}
	if l.clients[clientKey(netip.MustParseAddr("10.255.0.0"))] == nil {
		t.Fatal("a client with a check in progress was dropped")
	}
	busy.done(failed)
}
