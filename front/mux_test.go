package front

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/netx"
)

const bound = 10 * time.Second

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		b    byte
		want Protocol
	}{
		{"socks5", 0x05, SOCKS},
		{"socks4", 0x04, SOCKS},
		{"GET", 'G', HTTP},
		{"CONNECT", 'C', HTTP},
		{"POST/PUT/PATCH", 'P', HTTP},
		{"HEAD", 'H', HTTP},
		{"OPTIONS", 'O', HTTP},
		{"DELETE", 'D', HTTP},
		{"nul", 0x00, HTTP},
		{"socks version 3", 0x03, HTTP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.b); got != tt.want {
				t.Errorf("classify(%#x) = %q, want %q", tt.b, got, tt.want)
			}
		})
	}
}

// served is what a recording handler saw of one connection.
type served struct {
	proto   Protocol
	connT   string
	data    []byte
	readErr error
	seen    []byte // a copy of what the handler was handed
	ctx     context.Context
}

// recorder is a Handler that reports each conn it serves, then runs then.
type recorder struct {
	proto Protocol
	ch    chan served
	then  func(ctx context.Context, c net.Conn)
	// read, when > 0, is how many bytes to read before reporting.
	read int
}

func (r *recorder) ServeConn(ctx context.Context, c net.Conn, seen []byte, end func()) {
	defer end()
	s := served{proto: r.proto, connT: typeName(c), seen: bytes.Clone(seen), ctx: ctx}
	if r.read > 0 {
		s.data = make([]byte, r.read)
		var n int
		n, s.readErr = io.ReadFull(c, s.data)
		s.data = s.data[:n]
	}
	r.ch <- s
	if r.then != nil {
		r.then(ctx, c)
	}
}

// refusingRecorder also implements Refuser.
type refusingRecorder struct{ *recorder }

func (r refusingRecorder) Refuse(_ context.Context, c net.Conn) { c.Write([]byte("refused\n")) }

func typeName(c net.Conn) string {
	switch c.(type) {
	case *net.TCPConn:
		return "*net.TCPConn"
	case *netx.Conn:
		return "*netx.Conn"
	case *tls.Conn:
		return "*tls.Conn"
	}
	return "other"
}

// world is a Mux serving one loopback listener.
type world struct {
	mux   *Mux
	addr  string
	http  *recorder
	socks *recorder
	serve chan error
}

func newWorld(t *testing.T, proto Protocol, m *Mux, read int) *world {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{
		mux:   m,
		addr:  ln.Addr().String(),
		http:  &recorder{proto: HTTP, ch: make(chan served, 16), read: read},
		socks: &recorder{proto: SOCKS, ch: make(chan served, 16), read: read},
		serve: make(chan error, 1),
	}
	if m.HTTP == nil {
		m.HTTP = w.http
	}
	if m.SOCKS == nil {
		m.SOCKS = w.socks
	}
	if m.HandshakeTimeout == 0 {
		m.HandshakeTimeout = bound
	}
	go func() { w.serve <- m.Serve(ln, proto) }()
	t.Cleanup(func() {
		m.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		m.Drain(ctx)
		select {
		case <-w.serve:
		case <-time.After(bound):
			t.Error("Serve did not return after Close")
		}
	})
	return w
}

func (w *world) dial(t *testing.T) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", w.addr, bound)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(bound))
	return c.(*net.TCPConn)
}

func next(t *testing.T, ch <-chan served) served {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(bound):
		t.Fatal("no connection reached a handler")
		return served{}
	}
}

// The first byte picks the handler, the handler still reads it, and on
// Linux it gets the accepted *net.TCPConn itself (MSG_PEEK, no wrapper),
// which the relay needs to splice.
func TestMuxSniffKeepsFirstByte(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Protocol
	}{
		{"socks5 greeting", "\x05\x01\x00", SOCKS},
		{"socks4 request", "\x04\x01\x00\x50\x7f\x00\x00\x01\x00", SOCKS},
		{"GET", "GET / HTTP/1.1\r\n", HTTP},
		{"CONNECT", "CONNECT a:1 HTTP/1.1\r\n", HTTP},
		{"POST", "POST http://a/ HTTP/1.1\r\n", HTTP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, Auto, &Mux{}, len(tt.in))
			c := w.dial(t)
			if _, err := c.Write([]byte(tt.in)); err != nil {
				t.Fatal(err)
			}
			var s served
			select {
			case s = <-w.http.ch:
			case s = <-w.socks.ch:
			case <-time.After(bound):
				t.Fatal("no handler called")
			}
			if s.proto != tt.want {
				t.Errorf("served by %q, want %q", s.proto, tt.want)
			}
			if string(s.data) != tt.in || s.readErr != nil {
				t.Errorf("handler read %q (%v), want all of %q: the peeked byte was lost", s.data, s.readErr, tt.in)
			}
			if s.connT != "*net.TCPConn" && onLinux {
				t.Errorf("handler got %s, want *net.TCPConn", s.connT)
			}
		})
	}
}

// A listener with a fixed protocol does not sniff.
func TestMuxFixedProtocol(t *testing.T) {
	w := newWorld(t, SOCKS, &Mux{}, 3)
	c := w.dial(t)
	c.Write([]byte("GET"))
	if s := next(t, w.socks.ch); string(s.data) != "GET" {
		t.Errorf("socks handler read %q, want GET", s.data)
	}
}

func TestMuxHandshakeDeadline(t *testing.T) {
	t.Run("silent client is closed", func(t *testing.T) {
		w := newWorld(t, Auto, &Mux{HandshakeTimeout: 100 * time.Millisecond}, 0)
		c := w.dial(t)
		n, err := c.Read(make([]byte, 1))
		if err != io.EOF {
			t.Fatalf("client read %d bytes, %v; want EOF from the mux closing", n, err)
		}
		select {
		case s := <-w.http.ch:
			t.Errorf("a handler (%s) was called for a client that sent nothing", s.proto)
		case s := <-w.socks.ch:
			t.Errorf("a handler (%s) was called for a client that sent nothing", s.proto)
		default:
		}
	})
	t.Run("handler inherits the deadline", func(t *testing.T) {
		w := newWorld(t, Auto, &Mux{HandshakeTimeout: 100 * time.Millisecond}, 2)
		c := w.dial(t)
		c.Write([]byte{0x05}) // one byte of a greeting, then silence
		s := next(t, w.socks.ch)
		if !errors.Is(s.readErr, errDeadline) {
			t.Errorf("handler's read of a stalled greeting = %v, want a deadline error", s.readErr)
		}
	})
}

var errDeadline = os.ErrDeadlineExceeded

const onLinux = runtime.GOOS == "linux"

func TestMuxMaxConnsRefuses(t *testing.T) {
	release := make(chan struct{})
	holding := &recorder{proto: HTTP, ch: make(chan served, 4), then: func(ctx context.Context, c net.Conn) {
		select {
		case <-release:
		case <-ctx.Done():
		}
	}}
	w := newWorld(t, Auto, &Mux{MaxConns: 1, HTTP: refusingRecorder{holding}}, 0)
	t.Cleanup(func() { close(release) })
	first := w.dial(t)
	first.Write([]byte("G"))
	next(t, holding.ch) // the first conn is being served

	second := w.dial(t)
	second.Write([]byte("G"))
	got, err := io.ReadAll(second)
	if err != nil || string(got) != "refused\n" {
		t.Fatalf("second conn got %q, %v; want the Refuser's answer then EOF", got, err)
	}
}

// Issue 20 item 6: an over-limit conn is turned away at once, not held
// (with its fd) until the handshake deadline, whether it says something
// or nothing: a flood of silent conns cannot keep a legitimate client
// waiting.
func TestMuxOverLimitClosedAtOnce(t *testing.T) {
	release := make(chan struct{})
	holding := &recorder{proto: HTTP, ch: make(chan served, 4), then: func(ctx context.Context, c net.Conn) {
		select {
		case <-release:
		case <-ctx.Done():
		}
	}}
	w := newWorld(t, Auto, &Mux{MaxConns: 1, HandshakeTimeout: time.Hour, HTTP: refusingRecorder{holding}}, 0)
	t.Cleanup(func() { close(release) })
	first := w.dial(t)
	first.Write([]byte("G"))
	next(t, holding.ch)
	for i := range 20 {
		silent := w.dial(t) // bound: dial sets a deadline of bound on it
		if n, err := silent.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("silent conn %d over the limit: read %d, %v; want EOF at once, not at the handshake deadline", i, n, err)
		}
	}
}

func TestMuxCloseStopsServe(t *testing.T) {
	w := newWorld(t, Auto, &Mux{}, 0)
	w.mux.Close()
	select {
	case err := <-w.serve:
		w.serve <- err // for the cleanup
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Serve = %v, want ErrClosed", err)
		}
	case <-time.After(bound):
		t.Fatal("Serve did not return after Close")
	}
	if _, err := net.DialTimeout("tcp", w.addr, bound); err == nil {
		t.Error("listener still accepts after Close")
	}
}

func TestDrainWaitsForOpenConns(t *testing.T) {
	release := make(chan struct{})
	var finished atomic.Bool
	h := &recorder{proto: HTTP, ch: make(chan served, 1), then: func(ctx context.Context, c net.Conn) {
		<-release
		finished.Store(true)
	}}
	w := newWorld(t, Auto, &Mux{HTTP: h}, 0)
	c := w.dial(t)
	c.Write([]byte("G"))
	next(t, h.ch)

	w.mux.Close()
	drained := make(chan bool, 1)
	go func() { drained <- w.mux.Drain(context.Background()) }()
	select {
	case <-drained:
		t.Fatal("Drain returned while a connection was still being served")
	case <-time.After(100 * time.Millisecond): // a negative check: any return here is a bug
	}
	close(release)
	select {
	case clean := <-drained:
		if !clean || !finished.Load() {
			t.Errorf("Drain = %v with handler finished=%v, want true after the handler returned", clean, finished.Load())
		}
	case <-time.After(bound):
		t.Fatal("Drain did not return after the last connection ended")
	}
}

func TestDrainForceClosesAfterCtx(t *testing.T) {
	handlerErr := make(chan error, 1)
	h := &recorder{proto: HTTP, ch: make(chan served, 1), then: func(ctx context.Context, c net.Conn) {
		// A tunnel that would run for ever: a read with no deadline.
		c.SetReadDeadline(time.Time{})
		_, err := io.Copy(io.Discard, c) // "G", then nothing until closed
		if ctx.Err() == nil {
			err = errors.New("conn context not cancelled")
		}
		handlerErr <- err
	}}
	w := newWorld(t, Auto, &Mux{HTTP: h}, 0)
	c := w.dial(t)
	c.Write([]byte("G"))
	next(t, h.ch)
	w.mux.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if clean := w.mux.Drain(ctx); clean {
		t.Error("Drain = true, want false: a connection had to be closed")
	}
	// Drain returned, so the handler has returned too.
	select {
	case err := <-handlerErr:
		if err == nil {
			t.Error("handler's read succeeded; want it ended by the drain")
		} else if err.Error() == "conn context not cancelled" {
			t.Error(err)
		}
	default:
		t.Error("Drain returned before the handler did")
	}
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("client read %d, %v after drain; want EOF", n, err)
	}
	if n := w.mux.Active(); n != 0 {
		t.Errorf("Active = %d after Drain, want 0", n)
	}
}

// The handler is handed the bytes the sniff peeked, as an argument: a
// prefix of what the client sent, which stays in the socket for it to
// read. Nothing is passed in the context.
func TestSniffedBytesHandedOn(t *testing.T) {
	const head = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
	w := newWorld(t, Auto, &Mux{}, len(head))
	c := w.dial(t)
	if _, err := c.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	s := <-w.http.ch
	if string(s.data) != head || s.readErr != nil {
		t.Fatalf("handler read %q, %v; want the head, still in the socket", s.data, s.readErr)
	}
	if len(s.seen) == 0 || !strings.HasPrefix(head, string(s.seen)) {
		t.Errorf("seen = %q, want a prefix of the head", s.seen)
	}

	sc := w.dial(t)
	greeting := []byte{5, 1, 0}
	if _, err := sc.Write(greeting); err != nil {
		t.Fatal(err)
	}
	sc.CloseWrite() // the recorder reads len(head) bytes: end its read
	ss := <-w.socks.ch
	if len(ss.seen) == 0 || !bytes.HasPrefix(greeting, ss.seen) {
		t.Errorf("SOCKS conn: seen = %v, want a prefix of the greeting %v", ss.seen, greeting)
	}
}

// A listener that serves one protocol sniffs nothing: the handler gets
// no seen bytes and reads the conn itself.
func TestNoSniffNoSeen(t *testing.T) {
	w := newWorld(t, HTTP, &Mux{}, 1)
	c := w.dial(t)
	if _, err := c.Write([]byte("G")); err != nil {
		t.Fatal(err)
	}
	if s := <-w.http.ch; s.seen != nil || string(s.data) != "G" {
		t.Errorf("seen %q, read %q; want nil and G", s.seen, s.data)
	}
}

// A mux with no handshake deadline refuses to serve rather than read
// from clients without one: the deadline is the engine's
// (limits.handshake_timeout), stated once, not a default of its own.
func TestMuxNeedsHandshakeTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &Mux{HTTP: &recorder{proto: HTTP, ch: make(chan served, 1)}}
	if err := m.Serve(ln, Auto); err == nil || err == ErrClosed {
		t.Fatalf("Serve = %v, want the missing deadline refused", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("the listener is still open")
	}
}

// Hold takes a slot of MaxConns (an HTTP/2 stream's), refuses one past
// the limit, and gives it back once however often it is released.
func TestMuxHold(t *testing.T) {
	m := &Mux{MaxConns: 2}
	r1, ok1 := m.Hold()
	r2, ok2 := m.Hold()
	if _, ok3 := m.Hold(); !ok1 || !ok2 || ok3 {
		t.Fatalf("holds %v %v %v, want two of two", ok1, ok2, ok3)
	}
	r1()
	r1()
	if m.Active() != 1 {
		t.Errorf("Active %d after one release (twice), want 1", m.Active())
	}
	if _, ok := m.Hold(); !ok {
		t.Error("no slot after a release")
	}
	r2()
	if unlimited := (&Mux{}); func() bool { _, ok := unlimited.Hold(); return ok }() != true {
		t.Error("MaxConns 0 refused a slot")
	}
}
