package limit

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/acl"
)

// clock is an injected time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func compile(t *testing.T, rules ...RuleConfig) *Set {
	t.Helper()
	for i := range rules {
		r := &rules[i]
		d := RuleConfig{}
		d.SetDefaults()
		if r.Per == "" {
			r.Per = d.Per
		}
		if r.Window == 0 {
			r.Window = d.Window
		}
		if r.Period == "" {
			r.Period = d.Period
		}
		if r.OnStoreError == "" {
			r.OnStoreError = d.OnStoreError
		}
	}
	var errs []string
	s := Compile(rules, acl.Env{}, "UTC", func(k, msg string) { errs = append(errs, k+": "+msg) })
	if len(errs) > 0 || s == nil {
		t.Fatalf("compile: %v", errs)
	}
	return s
}

func newTestLimiter(t *testing.T, shared Store) (*Limiter, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 7, 10, 0, 30, 0, time.UTC)}
	l := NewLimiter(Options{Shared: shared, Now: c.now, Owner: "test"})
	t.Cleanup(l.Close)
	return l, c
}

func query(user, client string) *acl.Query {
	return &acl.Query{Host: "example.com", Port: 443, Proto: "connect", User: user, Client: netip.MustParseAddr(client)}
}

func exceeded(t *testing.T, err error) *Exceeded {
	t.Helper()
	var e *Exceeded
	if !errors.As(err, &e) {
		t.Fatalf("error %v, want *Exceeded", err)
	}
	return e
}

// Tunnels at once: per user, freed by Done; another user has slots of its
// own; an anonymous request counts by its client address.
func TestTunnels(t *testing.T) {
	l, _ := newTestLimiter(t, nil)
	set := compile(t, RuleConfig{Name: "two", Tunnels: 2})
	ctx := context.Background()
	a1, err := l.Admit(ctx, set, query("alice", "192.0.2.1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Admit(ctx, set, query("alice", "192.0.2.2")); err != nil {
		t.Fatal(err)
	}
	_, err = l.Admit(ctx, set, query("alice", "192.0.2.3"))
	e := exceeded(t, err)
	if e.Limit != "two" || e.Kind != Slot || e.Who != "user alice" || e.RetryAfter != time.Second {
		t.Errorf("refusal %+v", e)
	}
	if !strings.Contains(e.Error(), `limit "two"`) {
		t.Errorf("message %q does not name the limit", e)
	}
	if _, err := l.Admit(ctx, set, query("bob", "192.0.2.1")); err != nil {
		t.Errorf("bob refused for alice's tunnels: %v", err)
	}
	a1.Done()
	a1.Done() // twice is once
	if _, err := l.Admit(ctx, set, query("alice", "192.0.2.3")); err != nil {
		t.Errorf("a freed slot not given: %v", err)
	}
	if _, err := l.Admit(ctx, set, query("alice", "192.0.2.3")); err == nil {
		t.Error("a second Done freed a second slot")
	}
	for range 2 {
		if _, err := l.Admit(ctx, set, query("", "198.51.100.1")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Admit(ctx, set, query("", "198.51.100.1")); err == nil {
		t.Error("anonymous requests of one client not counted together")
	}
	if _, err := l.Admit(ctx, set, query("", "198.51.100.2")); err != nil {
		t.Errorf("another anonymous client refused: %v", err)
	}
}

// Requests per window: refused until the window ends, with a Retry-After
// of what is left of it; an IPv6 /64 counts as one client.
func TestRequestsPerWindow(t *testing.T) {
	l, c := newTestLimiter(t, nil)
	set := compile(t, RuleConfig{Name: "rate", Per: PerClient, Requests: 3, Window: time.Minute})
	ctx := context.Background()
	for i := range 3 {
		tk, err := l.Admit(ctx, set, query("", "2001:db8:1:2::"+string(rune('1'+i))))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		tk.Done() // a rate is not given back
	}
	_, err := l.Admit(ctx, set, query("", "2001:db8:1:2::99"))
	e := exceeded(t, err)
	if e.Kind != Rate || e.RetryAfter != 30*time.Second || e.Who != "client 2001:db8:1:2::/64" {
		t.Errorf("refusal %+v, want rate, 30s left of the minute, the /64", e)
	}
	if _, err := l.Admit(ctx, set, query("", "2001:db8:1:3::1")); err != nil {
		t.Errorf("another /64 refused: %v", err)
	}
	c.add(30 * time.Second)
	if _, err := l.Admit(ctx, set, query("", "2001:db8:1:2::1")); err != nil {
		t.Errorf("a new window refused: %v", err)
	}
}

// Rules that do not match do not count; a per-rule limit counts everyone
// it matches together; every matching rule applies.
func TestRulesMatchAndCombine(t *testing.T) {
	l, _ := newTestLimiter(t, nil)
	set := compile(t,
		RuleConfig{Name: "socks-only", Per: PerRule, Tunnels: 1, Match: acl.Match{Proto: acl.Values{"socks"}}},
		RuleConfig{Name: "all", Per: PerRule, Tunnels: 3},
	)
	ctx := context.Background()
	q := query("alice", "192.0.2.1")
	q.Proto = "socks"
	if _, err := l.Admit(ctx, set, q); err != nil {
		t.Fatal(err)
	}
	q2 := query("bob", "192.0.2.2")
	q2.Proto = "socks"
	if e := exceeded(t, func() error { _, err := l.Admit(ctx, set, q2); return err }()); e.Limit != "socks-only" {
		t.Errorf("refused by %q, want socks-only", e.Limit)
	}
	// A refusal takes nothing: "all" still has two slots.
	for range 2 {
		if _, err := l.Admit(ctx, set, query("carol", "192.0.2.3")); err != nil {
			t.Fatalf("connect refused: %v", err)
		}
	}
	if e := exceeded(t, func() error { _, err := l.Admit(ctx, set, query("dan", "192.0.2.4")); return err }()); e.Limit != "all" {
		t.Errorf("refused by %q, want all", e.Limit)
	}
}

// A byte quota is counted while a tunnel runs: the flusher stops the
// tunnel once the quota is spent, naming the limit, and later requests
// are refused until the period ends.
func TestQuotaStopsRunningTunnel(t *testing.T) {
	l, c := newTestLimiter(t, nil)
	set := compile(t, RuleConfig{Name: "daily", Bytes: 10 << 20})
	ctx := context.Background()
	tk, err := l.Admit(ctx, set, query("alice", "192.0.2.1"))
	if err != nil {
		t.Fatal(err)
	}
	m := tk.Meter()
	if m == nil {
		t.Fatal("no meter for a quota")
	}
	stopped := make(chan error, 1)
	m.OnStop(func(err error) { stopped <- err })
	for range 9 {
		m.Add(1 << 20)
	}
	l.Flush()
	select {
	case err := <-stopped:
		t.Fatalf("stopped at 9 of 10 MiB: %v", err)
	default:
	}
	m.Add(2 << 20) // crosses a FlushBytes boundary: the flusher is kicked
	var err2 error
	select {
	case err2 = <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("a spent quota did not stop the tunnel")
	}
	if e := exceeded(t, err2); e.Kind != Quota || e.Limit != "daily" {
		t.Errorf("stopped with %+v", e)
	}
	tk.Done()
	_, err = l.Admit(ctx, set, query("alice", "192.0.2.1"))
	if e := exceeded(t, err); e.Kind != Quota || e.RetryAfter != 14*time.Hour-30*time.Second {
		t.Errorf("refusal %+v, want the quota, retry at midnight UTC", e)
	}
	if _, err := l.Admit(ctx, set, query("bob", "192.0.2.1")); err != nil {
		t.Errorf("bob refused for alice's quota: %v", err)
	}
	c.add(14 * time.Hour)
	if _, err := l.Admit(ctx, set, query("alice", "192.0.2.1")); err != nil {
		t.Errorf("a new day refused: %v", err)
	}
}

// The bytes of a tunnel that ended between flushes are counted too.
func TestQuotaCountsEndedTunnels(t *testing.T) {
	l, _ := newTestLimiter(t, nil)
	set := compile(t, RuleConfig{Name: "q", Bytes: 1000})
	ctx := context.Background()
	tk, _ := l.Admit(ctx, set, query("alice", "192.0.2.1"))
	tk.Count(1000)
	tk.Done()
	l.Flush()
	if _, err := l.Admit(ctx, set, query("alice", "192.0.2.1")); err == nil {
		t.Error("an ended tunnel's bytes were not counted")
	}
}

// failing is a shared store that cannot be reached.
type failing struct{}

var errUnreachable = errors.New("unreachable")

func (failing) Admit(context.Context, string, []Check) (int, error) { return 0, errUnreachable }
func (failing) Release(context.Context, string, []string) error     { return errUnreachable }
func (failing) AddBytes(context.Context, []Add) ([]int64, error)    { return nil, errUnreachable }
func (failing) Refresh(context.Context, map[string][]string) error  { return errUnreachable }

// While the shared store cannot be reached, a rule that fails open counts
// in process, and one that fails closed refuses.
func TestStoreDown(t *testing.T) {
	l, _ := newTestLimiter(t, failing{})
	set := compile(t,
		RuleConfig{Name: "open", Tunnels: 1, OnStoreError: FailOpen, Match: acl.Match{User: acl.Values{"alice"}}},
		RuleConfig{Name: "closed", Tunnels: 5, OnStoreError: FailClosed, Match: acl.Match{User: acl.Values{"bob"}}},
	)
	ctx := context.Background()
	if _, err := l.Admit(ctx, set, query("alice", "192.0.2.1")); err != nil {
		t.Fatalf("fail-open rule refused: %v", err)
	}
	if e := exceeded(t, func() error { _, err := l.Admit(ctx, set, query("alice", "192.0.2.1")); return err }()); e.StoreDown {
		t.Errorf("fail-open rule did not count in process: %+v", e)
	}
	_, err := l.Admit(ctx, set, query("bob", "192.0.2.1"))
	if e := exceeded(t, err); !e.StoreDown || e.Limit != "closed" || !strings.Contains(e.Error(), "unreachable") {
		t.Errorf("fail-closed refusal %+v (%v)", e, e)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		rule RuleConfig
		key  string
	}{
		{"no name", RuleConfig{Tunnels: 1}, "limit[0].name"},
		{"no limit", RuleConfig{Name: "x"}, "limit[0].tunnels"},
		{"negative", RuleConfig{Name: "x", Tunnels: -1}, "limit[0].tunnels"},
		{"bad per", RuleConfig{Name: "x", Tunnels: 1, Per: "host"}, "limit[0].per"},
		{"bad period", RuleConfig{Name: "x", Bytes: 1, Period: "week"}, "limit[0].period"},
		{"bad store error", RuleConfig{Name: "x", Tunnels: 1, OnStoreError: "maybe"}, "limit[0].on_store_error"},
		{"short window", RuleConfig{Name: "x", Requests: 1, Window: time.Millisecond}, "limit[0].window"},
		{"ip matcher", RuleConfig{Name: "x", Tunnels: 1, Match: acl.Match{IP: acl.Values{"10.0.0.0/8"}}}, "limit[0].ip"},
		{"bad matcher", RuleConfig{Name: "x", Tunnels: 1, Match: acl.Match{Port: acl.Values{"http"}}}, "limit[0].port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var keys []string
			s := Compile([]RuleConfig{tt.rule}, acl.Env{}, "UTC", func(k, _ string) { keys = append(keys, k) })
			if s != nil {
				t.Error("a bad rule compiled")
			}
			found := false
			for _, k := range keys {
				found = found || k == tt.key
			}
			if !found {
				t.Errorf("reported %v, want %s", keys, tt.key)
			}
		})
	}
	var keys []string
	Compile([]RuleConfig{{Name: "a", Tunnels: 1}, {Name: "a", Tunnels: 1}}, acl.Env{}, "UTC", func(k, _ string) { keys = append(keys, k) })
	if len(keys) != 1 || keys[0] != "limit[1].name" {
		t.Errorf("a name used twice: reported %v", keys)
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		bad  bool
	}{
		{"1024", 1024, false},
		{"10GiB", 10 << 30, false},
		{"50 GiB", 50 << 30, false},
		{"1.5MiB", 3 << 19, false},
		{"2GB", 2e9, false},
		{"5kib", 5 << 10, false},
		{"10 parsecs", 0, true},
		{"", 0, true},
		{"-1GiB", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d (error %v)", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"1024", "10GiB", "1.5 MB", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := ParseByteSize(s); err == nil && n < 0 {
			t.Fatalf("%q: negative size %d", s, n)
		}
	})
}

// A stop hook that blocks (a close behind a write to a client that does
// not read) does not hold the flusher: the next flush, which stops
// another tunnel, returns.
func TestBlockedStopHookDoesNotHoldFlushes(t *testing.T) {
	l, _ := newTestLimiter(t, nil)
	set := compile(t, RuleConfig{Name: "daily", Bytes: 1 << 20})
	ctx := context.Background()
	release := make(chan struct{})
	defer close(release)
	stopped := make(chan string, 2)
	for _, user := range []string{"alice", "bob"} {
		tk, err := l.Admit(ctx, set, query(user, "192.0.2.1"))
		if err != nil {
			t.Fatal(err)
		}
		defer tk.Done()
		tk.Meter().OnStop(func(error) {
			stopped <- user
			if user == "alice" {
				<-release // blocks until the test ends
			}
		})
		tk.Meter().Add(2 << 20)
		l.Flush() // returns although alice's hook is blocked
	}
	got := map[string]bool{}
	for range 2 {
		select {
		case u := <-stopped:
			got[u] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("stop hooks called: %v, want alice's and bob's", got)
		}
	}
}
