package netx

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// Tracker runs a server's accept loops and tracks the connections they
// accept, so that the server can stop accepting (Close) and let its
// connections finish within a grace period (Drain). front.Mux and
// reverse.Server are built on one. The zero Tracker is ready to use; it
// must not be copied after first use.
//
// The conns of one Serve share one context, which Drain cancels when it
// cuts them, and which ends once Serve has returned and its last conn is
// done: a context of its own per conn would cost each idle tunnel
// about 0.5 KiB (the map and channel its first child context leaves on
// it, the dial's timeout), and what a conn's serving derives from the
// context ends with that serving (a deferred cancel or stop).
type Tracker struct {
	// OnAcceptError, if set, is told of each accept error that Serve
	// retries, with the wait before the retry (for a log line).
	OnAcceptError func(err error, retryIn time.Duration)

	mu     sync.Mutex
	lns    map[net.Listener]struct{}
	conns  map[net.Conn]*serving
	serves map[*serving]struct{} // the Serves with a context in use
	wg     sync.WaitGroup        // one per tracked conn
	closed bool
}

// serving is one Serve's context and what uses it, guarded by the
// Tracker's mu: the context is cancelled, and forgotten, once its Serve
// has returned and its last conn is done (or by Drain's cut).
type serving struct {
	cut      context.CancelFunc
	open     int  // its conns not done
	returned bool // Serve has returned
}

// ErrClosed is returned by Serve once the Tracker is closed.
var ErrClosed = errors.New("server closed")

// Serve accepts on ln until ln or t is closed, and runs serve on a new
// goroutine for each conn, with a context from base that ends when Drain
// cuts the conns (shared by the conns of this Serve). serve must call
// t.Done(c) once when it is
// finished with c: before it returns, or later from goroutines of its own
// (a relay's). A temporary accept error (out of fds, say) is retried after
// a back-off doubling from 5 ms to 1 s, as net/http does, instead of
// spinning or giving up. Serve closes ln when it returns: ErrClosed after
// Close, else the error Accept gave (net.ErrClosed within it when ln was
// closed elsewhere).
func (t *Tracker) Serve(ln net.Listener, base context.Context, serve func(ctx context.Context, c net.Conn)) error {
	ctx, cut := context.WithCancel(base)
	s := &serving{cut: cut}
	if !t.addListener(ln, s) {
		cut()
		ln.Close()
		return ErrClosed
	}
	defer t.removeListener(ln, s)
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if t.isClosed() {
				return ErrClosed
			}
			if !isTemporary(err) {
				return err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			if t.OnAcceptError != nil {
				t.OnAcceptError(err, backoff)
			}
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !t.add(c, s) {
			c.Close()
			return ErrClosed
		}
		go serve(ctx, c)
	}
}

// isTemporary reports an accept error worth retrying: a timeout, or one
// the error itself calls temporary (EMFILE, ENFILE, ECONNABORTED).
func isTemporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// Done ends the tracking of c. Serve's serve calls it once per conn.
func (t *Tracker) Done(c net.Conn) {
	t.mu.Lock()
	if s := t.conns[c]; s != nil {
		delete(t.conns, c)
		s.open--
		t.forget(s)
	}
	t.mu.Unlock()
	t.wg.Done()
}

// Close stops every Serve (closing its listener); a Serve started later
// returns at once. Open connections go on until they end or Drain cuts
// them.
func (t *Tracker) Close() {
	t.mu.Lock()
	t.closed = true
	lns := t.lns
	t.lns = nil
	t.mu.Unlock()
	for ln := range lns {
		ln.Close()
	}
}

// Drain waits for the tracked connections to finish until ctx ends, then
// cancels the contexts of the rest, closes them and waits for their
// Done. It reports whether every connection finished on its own. Call it
// after Close, so that no new connection comes in.
func (t *Tracker) Drain(ctx context.Context) bool {
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
	}
	t.mu.Lock()
	for s := range t.serves {
		s.cut()
	}
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	<-done
	return false
}

// addListener tracks ln, and s, the context of the conns accepted on it.
func (t *Tracker) addListener(ln net.Listener, s *serving) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	if t.lns == nil {
		t.lns = map[net.Listener]struct{}{}
	}
	t.lns[ln] = struct{}{}
	if t.serves == nil {
		t.serves = map[*serving]struct{}{}
	}
	t.serves[s] = struct{}{}
	return true
}

// forget cancels and drops s once nothing uses its context. t.mu is held.
func (t *Tracker) forget(s *serving) {
	if s.returned && s.open == 0 {
		delete(t.serves, s)
		s.cut()
	}
}

// removeListener forgets and closes ln: Serve, of s, has returned.
func (t *Tracker) removeListener(ln net.Listener, s *serving) {
	t.mu.Lock()
	delete(t.lns, ln)
	s.returned = true
	t.forget(s)
	t.mu.Unlock()
	ln.Close()
}

func (t *Tracker) add(c net.Conn, s *serving) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	if t.conns == nil {
		t.conns = map[net.Conn]*serving{}
	}
	t.conns[c] = s
	s.open++
	t.wg.Add(1)
	return true
}

func (t *Tracker) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Len reports the connections tracked now.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}
