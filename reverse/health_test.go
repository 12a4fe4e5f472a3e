package reverse

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// scripted answers probes from a per-backend script of results.
type scripted struct {
	mu     sync.Mutex
	result map[*Backend]error
}

func (s *scripted) set(b *Backend, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.result[b] = err
}

func (s *scripted) probe(_ context.Context, b *Backend) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.result[b]
}

func TestHealthThresholds(t *testing.T) {
	errDown := errors.New("refused")
	tests := []struct {
		name   string
		rise   int
		fall   int
		checks []bool // probe outcomes, in order
		want   []bool // Up() after each
	}{
		{"fall 3", 2, 3, []bool{false, false, false}, []bool{true, true, false}},
		{"a success resets the fall count", 2, 3, []bool{false, false, true, false, false, false}, []bool{true, true, true, true, true, false}},
		{"rise 2", 2, 1, []bool{false, true, true}, []bool{false, false, true}},
		{"a failure resets the rise count", 2, 1, []bool{false, true, false, true, true}, []bool{false, false, false, false, true}},
		{"rise 1 fall 1", 1, 1, []bool{false, true, false}, []bool{false, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend("127.0.0.1:1", 1)
			p := NewPool("r", RoundRobin, HealthConfig{Rise: tt.rise, Fall: tt.fall}, []*Backend{b}, nil)
			s := &scripted{result: map[*Backend]error{}}
			var changes int
			for i, ok := range tt.checks {
				s.set(b, nil)
				if !ok {
					s.set(b, errDown)
				}
				before := b.Up()
				p.checkAll(context.Background(), s.probe, func(_ *Pool, _ *Backend, _ error) { changes++ })
				if b.Up() != tt.want[i] {
					t.Fatalf("after check %d (%v): up=%v, want %v", i+1, ok, b.Up(), tt.want[i])
				}
				if before != b.Up() {
					changes--
				}
			}
			if changes != 0 {
				t.Fatalf("change callbacks did not match state changes (off by %d)", changes)
			}
		})
	}
}

// A failed dial takes a backend down at once; active checks must then see
// rise successes before it takes connections again.
func TestPassiveThenRise(t *testing.T) {
	b := newBackend("127.0.0.1:1", 1)
	p := NewPool("r", RoundRobin, HealthConfig{Rise: 2, Fall: 3}, []*Backend{b}, nil)
	if !b.markFailed(time.Now(), time.Hour) || b.Up() {
		t.Fatal("markFailed left the backend up")
	}
	if p.Pick(netipZero, nil) != nil {
		t.Fatal("a down backend was picked")
	}
	s := &scripted{result: map[*Backend]error{}}
	p.checkAll(context.Background(), s.probe, nil)
	if b.Up() {
		t.Fatal("up after one good check with rise 2")
	}
	p.checkAll(context.Background(), s.probe, nil)
	if !b.Up() || p.Pick(netipZero, nil) != b {
		t.Fatal("not back after rise good checks")
	}
}

// With check none, a failed backend is skipped until FailTimeout passes on
// the pool's clock, then tried again; a good dial brings it back.
func TestPassiveOnlyRetry(t *testing.T) {
	b := newBackend("127.0.0.1:1", 1)
	p := NewPool("r", RoundRobin, HealthConfig{Check: CheckNone, FailTimeout: 10 * time.Second}, []*Backend{b}, nil)
	now := time.Unix(1000, 0)
	p.now = func() time.Time { return now }
	b.markFailed(now, p.Health.FailTimeout)
	if p.Pick(netipZero, nil) != nil {
		t.Fatal("picked within the fail timeout")
	}
	now = now.Add(10 * time.Second)
	if p.Pick(netipZero, nil) != b {
		t.Fatal("not retried after the fail timeout")
	}
	if !b.markOK() || !b.Up() {
		t.Fatal("a good dial did not bring it back")
	}
}

// The loop checks at once, then once per tick, and stops with its context.
func TestCheckLoopTicks(t *testing.T) {
	b := newBackend("127.0.0.1:1", 1)
	p := NewPool("r", RoundRobin, HealthConfig{Rise: 1, Fall: 1}, []*Backend{b}, nil)
	probed := make(chan struct{})
	probe := func(ctx context.Context, _ *Backend) error {
		select {
		case probed <- struct{}{}:
		case <-ctx.Done():
		}
		return errors.New("down")
	}
	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.checkLoop(ctx, ticks, probe, nil); close(done) }()
	waitFor := func(what string) {
		t.Helper()
		select {
		case <-probed:
		case <-time.After(5 * time.Second):
			t.Fatalf("no probe %s", what)
		}
	}
	waitFor("at start")
	ticks <- time.Time{}
	waitFor("after a tick")
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("loop did not stop")
	}
	if b.Up() {
		t.Fatal("failed checks with fall 1 left the backend up")
	}
}
