package front

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// event is one Observer call.
type event struct {
	what  string // opened, refused, closed
	proto Protocol
}

// chanObserver sends every call on a channel and checks that all calls
// name the same listener.
type chanObserver struct {
	t  *testing.T
	mu sync.Mutex
	ln net.Listener
	ch chan event
}

func newObserver(t *testing.T) *chanObserver {
	return &chanObserver{t: t, ch: make(chan event, 16)}
}

func (o *chanObserver) call(what string, ln net.Listener, p Protocol) {
	o.mu.Lock()
	if o.ln == nil {
		o.ln = ln
	} else if o.ln != ln {
		o.t.Errorf("%s on listener %v, want %v", what, ln.Addr(), o.ln.Addr())
	}
	o.mu.Unlock()
	o.ch <- event{what, p}
}

func (o *chanObserver) Opened(ln net.Listener, p string)  { o.call("opened", ln, Protocol(p)) }
func (o *chanObserver) Refused(ln net.Listener, p string) { o.call("refused", ln, Protocol(p)) }
func (o *chanObserver) Closed(ln net.Listener, p string)  { o.call("closed", ln, Protocol(p)) }

// expect reads the next calls and compares them with want.
func (o *chanObserver) expect(t *testing.T, want ...event) {
	t.Helper()
	for i, w := range want {
		select {
		case got := <-o.ch:
			if got != w {
				t.Fatalf("observer call %d: %v, want %v", i, got, w)
			}
		case <-time.After(bound):
			t.Fatalf("observer call %d: none within %v, want %v", i, bound, w)
		}
	}
}

// Each connection is opened and closed once, with the protocol it was
// dispatched as; one that sends nothing before the deadline is reported
// with no protocol.
func TestObserver(t *testing.T) {
	tests := []struct {
		name  string
		first string
		want  []event
	}{
		{"http", "GET / HTTP/1.1\r\n", []event{{"opened", HTTP}, {"closed", HTTP}}},
		{"socks", "\x05\x01\x00", []event{{"opened", SOCKS}, {"closed", SOCKS}}},
		{"silent client", "", []event{{"opened", ""}, {"closed", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newObserver(t)
			w := newWorld(t, Auto, &Mux{Observer: o, HandshakeTimeout: 200 * time.Millisecond}, 0)
			c := w.dial(t)
			if _, err := c.Write([]byte(tt.first)); err != nil {
				t.Fatal(err)
			}
			o.expect(t, tt.want...)
		})
	}
}

// A connection over the limit is opened, refused and closed; the one
// holding the slot is closed when its handler returns.
func TestObserverRefused(t *testing.T) {
	o := newObserver(t)
	release := make(chan struct{})
	holder := &recorder{proto: HTTP, ch: make(chan served, 16), then: func(ctx context.Context, c net.Conn) {
		select {
		case <-release:
		case <-ctx.Done():
		}
	}}
	w := newWorld(t, Auto, &Mux{Observer: o, MaxConns: 1, HTTP: holder}, 0)
	held := w.dial(t)
	held.Write([]byte("GET /held HTTP/1.1\r\n"))
	next(t, holder.ch)
	o.expect(t, event{"opened", HTTP})

	c := w.dial(t)
	c.Write([]byte("GET /over HTTP/1.1\r\n"))
	// Refused at once: no linger waits for the client.
	o.expect(t, event{"opened", HTTP}, event{"refused", HTTP}, event{"closed", HTTP})

	close(release)
	o.expect(t, event{"closed", HTTP})
}
