package front

import (
	"context"
	"net"
	"testing"
	"time"
)

// handlerFunc adapts a func to Handler.
type handlerFunc func(ctx context.Context, c net.Conn, end func())

func (f handlerFunc) ServeConn(ctx context.Context, c net.Conn, _ []byte, end func()) { f(ctx, c, end) }

// A handler may return and call end later (a tunnel relaying on its own
// goroutines): until it does, the conn is open and counted, and Drain
// waits for it.
func TestMuxConnEndsWhenHandlerCallsEnd(t *testing.T) {
	ends := make(chan func(), 1)
	returned := make(chan struct{}, 1)
	m := &Mux{HTTP: handlerFunc(func(_ context.Context, _ net.Conn, end func()) {
		ends <- end
		returned <- struct{}{}
	})}
	w := newWorld(t, HTTP, m, 0)
	c := w.dial(t)
	c.Write([]byte("x"))
	var end func()
	select {
	case end = <-ends:
	case <-time.After(bound):
		t.Fatal("handler not called")
	}
	<-returned
	if n := m.active.Load(); n != 1 {
		t.Errorf("after ServeConn returned, %d conns counted, want 1 until end", n)
	}
	// Draining with no grace closes the conn the handler still holds,
	// then waits for end.
	drained := make(chan bool, 1)
	go func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		drained <- m.Drain(ctx)
	}()
	c.SetReadDeadline(time.Now().Add(bound))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("read data, want the conn closed by Drain")
	}
	select {
	case <-drained:
		t.Fatal("Drain returned before the handler called end")
	default:
	}
	end()
	end() // twice is harmless
	select {
	case ok := <-drained:
		if ok {
			t.Error("Drain reported every conn finished on its own, want one cut off")
		}
	case <-time.After(bound):
		t.Fatal("Drain did not return after end")
	}
	if n := m.active.Load(); n != 0 {
		t.Errorf("%d conns counted after end, want 0", n)
	}
}

// A panic in a handler drops only its conn: it is closed and uncounted,
// and the mux serves the next one.
func TestMuxRecoversHandlerPanic(t *testing.T) {
	served := make(chan struct{}, 2)
	m := &Mux{HTTP: handlerFunc(func(_ context.Context, c net.Conn, end func()) {
		served <- struct{}{}
		b := make([]byte, 1)
		c.Read(b)
		if b[0] == 'p' {
			panic("test panic")
		}
		end()
	})}
	w := newWorld(t, HTTP, m, 0)
	for _, in := range []string{"p", "x"} {
		c := w.dial(t)
		c.Write([]byte(in))
		select {
		case <-served:
		case <-time.After(bound):
			t.Fatalf("conn %q not served", in)
		}
		c.SetReadDeadline(time.Now().Add(bound))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("conn %q: read data, want the conn closed", in)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	if !m.Drain(ctx) {
		t.Error("Drain cut conns off, want both ended by then")
	}
	if n := m.active.Load(); n != 0 {
		t.Errorf("%d conns counted after both ended, want 0", n)
	}
}
