package netx

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// served is one conn a test Tracker serves: its context, and end, which
// reports it done.
type served struct {
	ctx context.Context
	c   net.Conn
	end func()
}

// serveOn runs t.Serve on a fresh loopback listener, sending each conn
// to the channel returned; Serve's result goes to errc.
func serveOn(t *testing.T, tr *Tracker) (addr string, conns <-chan served, errc <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan served, 16)
	ec := make(chan error, 1)
	go func() {
		ec <- tr.Serve(ln, context.Background(), func(ctx context.Context, c net.Conn) {
			ch <- served{ctx, c, func() { c.Close(); tr.Done(c) }}
		})
	}()
	return ln.Addr().String(), ch, ec
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, bound)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func next[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(bound):
		t.Fatal("nothing within the bound")
	}
	panic("unreachable")
}

// Close stops Serve (ErrClosed) but not the conns; Drain waits for them
// and reports a clean end when each was done in time.
func TestTrackerCloseThenDrain(t *testing.T) {
	var tr Tracker
	addr, conns, errc := serveOn(t, &tr)
	dial(t, addr)
	s := next(t, conns)
	tr.Close()
	if err := next(t, errc); !errors.Is(err, ErrClosed) {
		t.Fatalf("Serve = %v after Close, want ErrClosed", err)
	}
	if s.ctx.Err() != nil {
		t.Fatal("Close cancelled an open conn's context")
	}
	drained := make(chan bool, 1)
	go func() { drained <- tr.Drain(context.Background()) }()
	select {
	case <-drained:
		t.Fatal("Drain returned while a conn was open")
	default:
	}
	s.end()
	if clean := next(t, drained); !clean {
		t.Error("Drain = false, want true: the conn ended on its own")
	}
	if s.ctx.Err() == nil {
		t.Error("the context of a Serve that returned outlived its last conn")
	}
}

// A Drain whose grace ends cancels and closes what is left, waits for
// its Done, and reports it.
func TestTrackerDrainCuts(t *testing.T) {
	var tr Tracker
	addr, conns, errc := serveOn(t, &tr)
	dial(t, addr)
	s := next(t, conns)
	go func() {
		<-s.ctx.Done() // as a handler does: stop when the context ends
		s.end()
	}()
	tr.Close()
	next(t, errc)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if clean := tr.Drain(ctx); clean {
		t.Error("Drain = true, want false: the conn had to be cut")
	}
	if _, err := s.c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("conn read %v after the cut, want it closed", err)
	}
}

// Serve on a Tracker already closed returns at once and closes ln.
func TestTrackerServeAfterClose(t *testing.T) {
	var tr Tracker
	tr.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Serve(ln, context.Background(), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Serve = %v, want ErrClosed", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("listener still open after Serve returned: %v", err)
	}
}

// flakyListener fails its first accepts with errs, then hands out conn,
// then reports itself closed.
type flakyListener struct {
	net.Listener
	errs []error
	conn net.Conn
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		return nil, err
	}
	if c := l.conn; c != nil {
		l.conn = nil
		return c, nil
	}
	return nil, &net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}
}

// Temporary accept errors (out of fds) are retried after a back-off that
// doubles from 5 ms; another error ends Serve and is returned as it is.
func TestTrackerAcceptBackoff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	a, b := net.Pipe()
	defer a.Close()
	fl := &flakyListener{Listener: ln, errs: []error{emfile, emfile, emfile}, conn: b}
	var waits []time.Duration
	tr := Tracker{OnAcceptError: func(err error, retryIn time.Duration) {
		if !errors.Is(err, syscall.EMFILE) {
			t.Errorf("told of %v, want EMFILE", err)
		}
		waits = append(waits, retryIn)
	}}
	servedc := make(chan net.Conn, 1)
	err = tr.Serve(fl, context.Background(), func(_ context.Context, c net.Conn) {
		servedc <- c
		tr.Done(c)
	})
	if !errors.Is(err, net.ErrClosed) || errors.Is(err, ErrClosed) {
		t.Errorf("Serve = %v, want the listener's own closed error", err)
	}
	want := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}
	if len(waits) != len(want) || waits[0] != want[0] || waits[1] != want[1] || waits[2] != want[2] {
		t.Errorf("back-offs %v, want %v", waits, want)
	}
	if c := next(t, servedc); c != b {
		t.Errorf("served %v, want the conn accepted after the errors", c)
	}
	if !tr.Drain(context.Background()) {
		t.Error("Drain = false after the conn was done")
	}
}

// The conns of one Serve share its context: a context of their own would
// be memory each idle tunnel keeps (the map and channel a first child
// context leaves on it). Drain's cut cancels it for every conn.
func TestTrackerConnsShareContext(t *testing.T) {
	var tr Tracker
	addr, conns, errc := serveOn(t, &tr)
	dial(t, addr)
	dial(t, addr)
	a, b := next(t, conns), next(t, conns)
	if a.ctx != b.ctx {
		t.Error("two conns of one Serve got contexts of their own")
	}
	a.end()
	if b.ctx.Err() != nil {
		t.Fatal("one conn's Done cancelled the context the other still uses")
	}
	tr.Close()
	next(t, errc)
	go func() {
		<-b.ctx.Done()
		b.end()
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if clean := tr.Drain(ctx); clean {
		t.Error("Drain = true, want false: the conn had to be cut")
	}
}
