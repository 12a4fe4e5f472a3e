package reverse

import (
	"bytes"
	"context"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/proxyhdr"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
)

// chanSink hands finished access records to the test.
type chanSink chan *accesslog.Record

func (s chanSink) Write(r *accesslog.Record) { s <- r }

func (s chanSink) next(t *testing.T) *accesslog.Record {
	t.Helper()
	select {
	case r := <-s:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no access record within 5s")
		return nil
	}
}

// world is a Server on 127.0.0.1:0 with one listener "l"; it returns the
// server, its access records and the listener's address.
func world(t testing.TB, lc ListenerConfig) (*Server, chanSink, string) {
	t.Helper()
	sink := make(chanSink, 16)
	s := worldSink(t, lc, sink)
	return s, sink, s.Addr("l").String()
}

func worldSink(t testing.TB, lc ListenerConfig, sink accesslog.Sink) *Server {
	t.Helper()
	return worldLog(t, lc, sink, zerolog.Nop())
}

// worldLog is worldSink with the server's log.
func worldLog(t testing.TB, lc ListenerConfig, sink accesslog.Sink, log zerolog.Logger) *Server {
	t.Helper()
	s := New(tunnel.New(tunnel.Config{}, nil), sink, log)
	lc.Name, lc.Address = "l", "127.0.0.1:0"
	if err := s.Apply(Config{Listeners: []ListenerConfig{lc}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Drain(ctx)
	})
	return s
}

// discard drops access records (benchmarks make too many to keep).
type discard struct{}

func (discard) Write(*accesslog.Record) {}

// recorder is a backend that keeps everything it is sent.
type recorder struct {
	addr string
	got  chan []byte
}

func startRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{got: make(chan []byte, 4)}
	r.addr = serveBackend(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		r.got <- b
	})
	return r
}

// startGreeter is a backend that writes one byte to each connection and
// then reads until EOF: a client that has read the byte knows its
// connection is relayed (and counted by the listener's caps).
func startGreeter(t *testing.T) string {
	t.Helper()
	return serveBackend(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte{'!'})
		io.Copy(io.Discard, c)
	})
}

// serveBackend listens on 127.0.0.1:0 and runs serve on each connection in
// its own goroutine, closing the connection when serve returns; the
// listener closes at cleanup.
func serveBackend(tb testing.TB, serve func(c net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func route(backend string) RouteConfig {
	return RouteConfig{Name: "r", Default: true, Backends: []BackendConfig{{Address: backend}},
		Health: HealthConfig{Check: CheckNone}}
}

// Behind a trusted balancer the PROXY header is taken off with exact-size
// reads: the backend gets the ClientHello and what follows byte for byte,
// and the relay still splices (it saw two *net.TCPConn).
func TestProxyHeaderKeepsSplice(t *testing.T) {
	rec := startRecorder(t)
	_, sink, addr := world(t, ListenerConfig{
		Mode:              ModeTLS,
		ProxyProtocolFrom: []string{"127.0.0.0/8"},
		Routes:            []RouteConfig{route(rec.addr)},
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	hello := buildHello("a.example.test", []string{"h2"}, 0)
	payload := bytes.Repeat([]byte("x"), 64<<10)
	want := append(append([]byte{}, hello...), payload...)
	hdr := "PROXY TCP4 203.0.113.7 198.51.100.1 4711 443\r\n"
	before := tunnel.SplicedChunks()
	// Header and hello in separate writes, then the rest: the peeks must
	// wait for enough bytes, not fail on a short read.
	c.Write([]byte(hdr[:10]))
	c.Write([]byte(hdr[10:] + string(hello[:20])))
	c.Write(hello[20:])
	c.Write(payload)
	c.(*net.TCPConn).CloseWrite()
	var got []byte
	select {
	case got = <-rec.got:
	case <-time.After(10 * time.Second):
		t.Fatal("backend got nothing")
	}
	c.Close()
	if !bytes.Equal(got, want) {
		t.Fatalf("backend got %d bytes (prefix %q), want the %d-byte hello and payload", len(got), got[:min(len(got), 16)], len(want))
	}
	r := sink.next(t)
	if r.Client.String() != "203.0.113.7:4711" || r.Target != "a.example.test:443" || r.Status != 200 {
		t.Fatalf("record client %s target %s status %d", r.Client, r.Target, r.Status)
	}
	if runtime.GOOS == "linux" && tunnel.SplicedChunks() == before {
		t.Fatal("relay did not splice: the client conn was wrapped")
	}
}

// A client that sends nothing is closed at the handshake timeout and
// logged as a bad request, freeing its slot.
func TestHandshakeTimeout(t *testing.T) {
	rec := startRecorder(t)
	_, sink, addr := world(t, ListenerConfig{
		Mode:             ModeTLS,
		HandshakeTimeout: 100 * time.Millisecond,
		MaxConns:         1,
		Routes:           []RouteConfig{route(rec.addr)},
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("silent client: %d bytes, %v; want closed", n, err)
	}
	r := sink.next(t)
	if r.Status != 400 || r.Err == nil || !strings.Contains(r.Err.Error(), "handshake_timeout") {
		t.Fatalf("record status %d err %v", r.Status, r.Err)
	}
}

// A client that sends part of its ClientHello and then half-closes is
// answered when its FIN comes, not held until the handshake timeout: the
// peek sees the close behind the queued bytes.
func TestHalfCloseInHelloAnsweredAtOnce(t *testing.T) {
	rec := startRecorder(t)
	_, sink, addr := world(t, ListenerConfig{
		Mode:             ModeTLS,
		HandshakeTimeout: time.Hour, // the test's bound ends first
		Routes:           []RouteConfig{route(rec.addr)},
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hello := buildHello("a.example.test", nil, 0)
	if _, err := c.Write(hello[:len(hello)/2]); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	r := sink.next(t)
	if r.Status != 400 || r.Err == nil || !strings.Contains(r.Err.Error(), "unexpected EOF") {
		t.Fatalf("record status %d err %v; want 400, the ClientHello cut short", r.Status, r.Err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("%d bytes, %v; want a clean close", n, err)
	}
}

// Guards: a denied source, and a listener at max_conns.
func TestGuards(t *testing.T) {
	rec := startRecorder(t)
	greeter := startGreeter(t)
	tests := []struct {
		name       string
		lc         ListenerConfig
		hold       bool // open one relayed connection first (to greeter)
		status     int
		rule       string
		proxyState string
	}{
		{name: "deny", lc: ListenerConfig{Deny: []string{"127.0.0.0/8"}},
			status: 403, rule: "deny 127.0.0.0/8", proxyState: "http_request_denied"},
		{name: "allow list", lc: ListenerConfig{Allow: []string{"10.0.0.0/8"}},
			status: 403, rule: "allow (no entry matched)", proxyState: "http_request_denied"},
		{name: "route deny", lc: ListenerConfig{Routes: []RouteConfig{func() RouteConfig {
			r := route(rec.addr)
			r.Deny = []string{"127.0.0.1/32"}
			return r
		}()}}, status: 403, rule: "deny 127.0.0.1/32", proxyState: "http_request_denied"},
		{name: "max conns", lc: ListenerConfig{MaxConns: 1, Routes: []RouteConfig{route(greeter)}}, hold: true,
			status: 503, proxyState: "connection_limit_reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.lc.Mode = ModeTCP
			if tt.lc.Routes == nil {
				tt.lc.Routes = []RouteConfig{route(rec.addr)}
			}
			_, sink, addr := world(t, tt.lc)
			if tt.hold {
				h, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer h.Close()
				// Relayed once the greeter's byte arrives: only then is the
				// next connection sure to be the one over the cap.
				h.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadFull(h, make([]byte, 1)); err != nil {
					t.Fatalf("held connection not relayed: %v", err)
				}
			}
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Fatalf("%d bytes, %v; want closed", n, err)
			}
			r := sink.next(t)
			if r.Status != tt.status || r.Rule != tt.rule || r.ProxyStatus != tt.proxyState {
				t.Fatalf("record status %d rule %q proxy_status %q err %v", r.Status, r.Rule, r.ProxyStatus, r.Err)
			}
		})
	}
}

// Renaming a listener at a fixed address keeps its socket (no gap, no
// EADDRINUSE); a reload that cannot be applied changes nothing.
func TestApplyRenameAndRefuse(t *testing.T) {
	rec := startRecorder(t)
	s, sink, addr := world(t, ListenerConfig{Mode: ModeTCP, Routes: []RouteConfig{route(rec.addr)}})
	// "l" asks for the port it already holds under ":0": a second bind of
	// a port in use fails, so the reload is refused whole.
	pinned := ListenerConfig{Name: "l", Address: addr, Mode: ModeTCP, Routes: []RouteConfig{route(rec.addr)}}
	if err := s.Apply(Config{Listeners: []ListenerConfig{pinned}}); err == nil {
		t.Fatal("binding a port in use succeeded")
	}
	bad := pinned
	bad.Routes = nil
	if err := s.Apply(Config{Listeners: []ListenerConfig{bad}}); err == nil {
		t.Fatal("a listener with no route was accepted")
	}
	if a := s.Addr("l"); a == nil || a.String() != addr {
		t.Fatalf("a refused reload changed the listener: %v", a)
	}

	// A server on the fixed address, then renamed: same socket.
	s.Close()
	s2 := New(tunnel.New(tunnel.Config{}, nil), sink, zerolog.Nop())
	t.Cleanup(s2.Close)
	if err := s2.Apply(Config{Listeners: []ListenerConfig{pinned}}); err != nil {
		t.Fatal(err)
	}
	renamed := pinned
	renamed.Name = "renamed"
	if err := s2.Apply(Config{Listeners: []ListenerConfig{renamed}}); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if s2.Addr("l") != nil || s2.Addr("renamed") == nil || s2.Addr("renamed").String() != addr {
		t.Fatalf("after rename: l=%v renamed=%v", s2.Addr("l"), s2.Addr("renamed"))
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hi"))
	c.(*net.TCPConn).CloseWrite()
	select {
	case got := <-rec.got:
		if string(got) != "hi" {
			t.Fatalf("backend got %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("renamed listener did not relay")
	}
	c.Close()
}

// The buffered peeker (any conn that is not a *net.TCPConn on Linux)
// replays what it peeked.
func TestBufferedPeeker(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go a.Write([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nrest"))
	pk := newPeeker(b)
	b.SetDeadline(time.Now().Add(5 * time.Second))
	h, err := readProxyHeader(pk)
	if err != nil {
		t.Fatal(err)
	}
	if src, _, ok := proxyhdr.Addrs(h); !ok || src.String() != "1.2.3.4:1" {
		t.Fatalf("source %v", src)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(pk.Conn(), got); err != nil || string(got) != "rest" {
		t.Fatalf("after the header: %q, %v", got, err)
	}
}

// A refused TLS client (no backend up) sees a clean close, not a reset,
// although its ClientHello was never read off the socket.
func TestRefusedCloseIsClean(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, sink, addr := world(t, ListenerConfig{Mode: ModeTLS, Routes: []RouteConfig{route(down)}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(buildHello("a.example.test", nil, 0))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("%d bytes, %v; want EOF (a FIN, not a RST)", n, err)
	}
	if r := sink.next(t); r.Status != 502 || r.ProxyStatus != "connection_refused" {
		t.Fatalf("record status %d proxy_status %q", r.Status, r.ProxyStatus)
	}
}

// A route whose backend is the listener itself would send every
// connection back to ferry, each dialing again until the fds ran out: the
// dial is refused as a loop (508, proxy_loop_detected), once.
func TestBackendLoopRefused(t *testing.T) {
	greeter := startGreeter(t)
	s, sink, addr := world(t, ListenerConfig{Mode: ModeTCP, Routes: []RouteConfig{route(greeter)}})
	self := route(addr)
	if err := s.Apply(Config{Listeners: []ListenerConfig{{Name: "l", Address: "127.0.0.1:0", Mode: ModeTCP,
		Routes: []RouteConfig{self}}}}); err != nil {
		t.Fatal(err)
	}
	if got := s.Addr("l").String(); got != addr {
		t.Fatalf("the listener moved to %s on reload; the test needs it at %s", got, addr)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("%d bytes, %v; want closed", n, err)
	}
	// Each hop of the loop dials only until the backend is marked down
	// (its dial refused as a loop takes it down): a few records, then
	// none. Collected until quiet for 300ms, bounded in count and time.
	var loops, records int
	deadline := time.After(5 * time.Second)
collect:
	for records < 50 {
		select {
		case r := <-sink:
			records++
			if r.ProxyStatus == "proxy_loop_detected" && r.Status == 508 {
				loops++
			}
		case <-time.After(300 * time.Millisecond):
			break collect
		case <-deadline:
			break collect
		}
	}
	if loops == 0 || records > 6 {
		t.Fatalf("%d records, %d of them loops; want a loop refused and the chain ended within a few hops", records, loops)
	}
}

// A relayed connection ends on the relay's goroutines: its access event
// is written and every slot it held (listener, client address, backend's
// least-conn count) is given back, so the next connection from the same
// address is served; Drain waits for a relay still open.
func TestRelayEndReleases(t *testing.T) {
	echo := serveBackend(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.Copy(c, c)
	})
	s, sink, addr := world(t, ListenerConfig{
		Mode:          ModeTCP,
		MaxConns:      1,
		MaxConnsPerIP: 1,
		Routes:        []RouteConfig{route(echo)},
	})
	backend := s.table.Load().Listener("l").def.Pool.backends[0]
	roundTrip := func(c net.Conn, msg string) {
		t.Helper()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
			t.Fatalf("echo %q, %v; want %q", got, err, msg)
		}
	}
	for i := range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(c, "ping")
		if n := backend.Active(); n != 1 {
			t.Fatalf("connection %d: backend active %d while relaying, want 1", i, n)
		}
		c.Close()
		r := sink.next(t)
		if r.Status != 200 || r.BytesUp != 4 || r.BytesDown != 4 {
			t.Fatalf("connection %d: record status %d, %d up, %d down", i, r.Status, r.BytesUp, r.BytesDown)
		}
		// The event is written before the slots are given back: wait
		// for the count, bounded.
		deadline := time.Now().Add(5 * time.Second)
		for backend.Active() != 0 && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		if n := backend.Active(); n != 0 {
			t.Fatalf("connection %d: backend active %d after close, want 0", i, n)
		}
	}

	// Drain: an open relay keeps it waiting until the client closes.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(c, "held")
	s.Close()
	drained := make(chan bool, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		drained <- s.Drain(ctx)
	}()
	select {
	case <-drained:
		t.Fatal("Drain returned while a relay was open")
	case r := <-sink:
		t.Fatalf("relay ended on its own: status %d, err %v", r.Status, r.Err)
	case <-time.After(100 * time.Millisecond):
	}
	roundTrip(c, "still")
	c.Close()
	select {
	case ok := <-drained:
		if !ok {
			t.Fatal("Drain: the relay did not finish on its own")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Drain did not return after the last relay closed")
	}
	if r := sink.next(t); r.BytesUp != 9 {
		t.Fatalf("held connection: %d bytes up, want 9", r.BytesUp)
	}
}

// lockedBuffer is a log destination the server's goroutines share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// An active check that reaches one of ferry's own listeners fails, as a
// dial there does: a backend that loops back to ferry goes down and stays
// down, where a successful probe used to bring it back up between the
// dials that took it down.
func TestHealthCheckRefusesOwnListener(t *testing.T) {
	var logs lockedBuffer
	sink := make(chanSink, 64)
	lc := ListenerConfig{Mode: ModeTCP, Routes: []RouteConfig{route(startGreeter(t))}}
	s := worldLog(t, lc, sink, zerolog.New(&logs))
	lc.Name, lc.Address = "l", "127.0.0.1:0" // as worldLog set them, for the reload below
	addr := s.Addr("l").String()
	self := route(addr)
	self.Health = HealthConfig{Check: CheckTCP, Interval: 10 * time.Millisecond, Rise: 1, Fall: 1}
	lc.Routes = []RouteConfig{self}
	if err := s.Apply(Config{Listeners: []ListenerConfig{lc}}); err != nil {
		t.Fatal(err)
	}
	if got := s.Addr("l").String(); got != addr {
		t.Fatalf("the listener moved to %s on reload; the test needs it at %s", got, addr)
	}
	b := s.table.Load().Listener("l").def.Pool.backends[0]
	// Every probe is also a connection to the listener, and so an access
	// record: twenty of them are twenty probe rounds, bounded in time.
	deadline := time.After(10 * time.Second)
	for i := 0; i < 20; i++ {
		select {
		case <-sink:
		case <-deadline:
			t.Fatalf("%d probe connections in 10s, want 20", i)
		}
	}
	if b.Up() {
		t.Fatal("backend up after 20 probes: a probe to ferry's own listener counted as healthy")
	}
	if log := logs.String(); !strings.Contains(log, "one of ferry's own reverse listeners") || strings.Contains(log, `"backend up"`) {
		t.Fatalf("health log: want it down for looping back and never up again:\n%s", log)
	}
}
