package tunnel_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
)

func TestRelayBothWaysByteExact(t *testing.T) {
	w := startRelay(t, 0)
	up := pattern(3<<20+17, 1) // odd sizes: no chunk boundary luck
	down := pattern(2<<20+5, 2)

	// Both directions at once, so neither can finish before the other runs.
	gotUp := make(chan []byte, 1)
	go func() { gotUp <- readAll(t, w.server) }()
	gotDown := make(chan []byte, 1)
	go func() { gotDown <- readAll(t, w.client) }()
	writeErr := make(chan error, 2)
	go func() { writeErr <- writeAndCloseWrite(w.client, up) }()
	go func() { writeErr <- writeAndCloseWrite(w.server, down) }()
	for range 2 {
		if err := <-writeErr; err != nil {
			t.Fatal(err)
		}
	}
	if b := <-gotUp; !bytes.Equal(b, up) {
		t.Errorf("server got %d bytes, want the %d sent, byte for byte", len(b), len(up))
	}
	if b := <-gotDown; !bytes.Equal(b, down) {
		t.Errorf("client got %d bytes, want the %d sent, byte for byte", len(b), len(down))
	}
	r := w.wait(t)
	if r.err != nil {
		t.Errorf("Relay = %v, want nil after both sides closed cleanly", r.err)
	}
	if r.st.Up != int64(len(up)) || r.st.Down != int64(len(down)) {
		t.Errorf("Stats = %+v, want Up %d Down %d", r.st, len(up), len(down))
	}
}

func writeAndCloseWrite(c *net.TCPConn, b []byte) error {
	c.SetWriteDeadline(time.Now().Add(bound))
	if _, err := c.Write(b); err != nil {
		return err
	}
	return c.CloseWrite()
}

// A client that shuts down its sending side must still receive: the server
// sees EOF, then answers, and the answer arrives (RFC 9293 §3.6 half-close).
func TestRelayHalfClose(t *testing.T) {
	w := startRelay(t, 0)
	if err := writeAndCloseWrite(w.client, []byte("request")); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, w.server); string(got) != "request" {
		t.Fatalf("server read %q then EOF, want %q", got, "request")
	}
	// The relay must not have torn the tunnel down on the first EOF.
	answer := pattern(256<<10, 3)
	if err := writeAndCloseWrite(w.server, answer); err != nil {
		t.Fatalf("server write after client half-close: %v", err)
	}
	if got := readAll(t, w.client); !bytes.Equal(got, answer) {
		t.Fatalf("client got %d bytes after its half-close, want %d", len(got), len(answer))
	}
	r := w.wait(t)
	if r.err != nil || r.st.Up != 7 || r.st.Down != int64(len(answer)) {
		t.Errorf("Relay = %+v, %v; want Up 7, Down %d, nil", r.st, r.err, len(answer))
	}
}

func TestRelayIdleEndsSilentTunnel(t *testing.T) {
	w := startRelay(t, 100*time.Millisecond)
	r := w.wait(t)
	if !errors.Is(r.err, tunnel.ErrIdle) {
		t.Fatalf("Relay = %v, want ErrIdle", r.err)
	}
	// Both ends were closed, not only reported.
	for name, c := range map[string]net.Conn{"client": w.client, "server": w.server} {
		c.SetReadDeadline(time.Now().Add(bound))
		if n, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("%s read %d bytes from an idle-closed tunnel", name, n)
		}
	}
}

// Traffic one way keeps the tunnel alive, even though the other direction's
// read deadline fires again and again.
func TestRelayIdleKeptAliveByOneDirection(t *testing.T) {
	const idle = 100 * time.Millisecond
	w := startRelay(t, idle)
	chunk := pattern(1024, 4)
	buf := make([]byte, len(chunk))
	start := time.Now()
	w.server.SetWriteDeadline(start.Add(bound))
	w.client.SetReadDeadline(start.Add(bound))

	// The relay moves chunk i somewhere between the start of its write
	// and the end of its read, so the longest it can have seen no byte is
	// at most the longest span from one write's start to the next read's
	// end. Only if that span stayed under the idle period is an ErrIdle a
	// bug; a longer one means this goroutine was starved (a loaded
	// machine) and the tunnel really was idle.
	var maxSpan time.Duration
	prevWrite := start
	ended := func(when string, err error) {
		t.Helper()
		if maxSpan >= idle {
			t.Skipf("inconclusive: the test itself paused %v (≥ idle %v) %s; Relay: %v", maxSpan, idle, when, err)
		}
		t.Fatalf("tunnel ended %s though a byte moved at least every %v (idle %v): %v", when, maxSpan, idle, err)
	}
	// Each round trip is an event: the client has read what the server
	// wrote. Run until six idle periods have passed (bounded in count).
	var rounds int
	for rounds = 0; time.Since(start) < 6*idle; rounds++ {
		if rounds == 1_000_000 {
			t.Fatal("too many rounds without six idle periods passing")
		}
		writeStart := time.Now()
		_, err := w.server.Write(chunk)
		if err == nil {
			_, err = io.ReadFull(w.client, buf)
		}
		maxSpan = max(maxSpan, time.Since(prevWrite))
		prevWrite = writeStart
		if err != nil {
			ended(fmt.Sprintf("in round %d", rounds), err)
		}
	}
	select {
	case r := <-w.done:
		w.done <- r
		maxSpan = max(maxSpan, time.Since(prevWrite))
		ended(fmt.Sprintf("after %d busy rounds", rounds), r.err)
	default:
	}
	// The silent direction still works.
	if _, err := w.client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	w.server.SetReadDeadline(time.Now().Add(bound))
	if _, err := io.ReadFull(w.server, buf[:1]); err != nil || buf[0] != 'x' {
		t.Fatalf("silent direction after %d rounds: %v", rounds, err)
	}
	w.client.CloseWrite()
	w.server.CloseWrite()
	if r := w.wait(t); r.err != nil {
		t.Errorf("Relay = %v after clean close, want nil", r.err)
	}
}

func TestRelayCancel(t *testing.T) {
	w := startRelay(t, 0)
	// One byte through first, so the relay is known to be running.
	if _, err := w.client.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	w.server.SetReadDeadline(time.Now().Add(bound))
	if _, err := io.ReadFull(w.server, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	w.cancel()
	r := w.wait(t)
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("Relay = %v, want context.Canceled", r.err)
	}
	if r.st.Up != 1 {
		t.Errorf("Stats.Up = %d, want 1", r.st.Up)
	}
	w.client.SetReadDeadline(time.Now().Add(bound))
	if _, err := w.client.Read(make([]byte, 1)); err == nil {
		t.Error("client conn still open after cancel")
	}
}

// A relay over conns that are not *net.TCPConn takes the copy path and
// still moves everything.
func TestRelayWrappedConns(t *testing.T) {
	client, pc := net.Pipe()
	ps, server := net.Pipe()
	done := make(chan relayResult, 1)
	tunnel.Start(context.Background(), pc, ps, time.Minute, func(st tunnel.Stats, err error) { done <- relayResult{st, err} })
	t.Cleanup(func() { client.Close(); server.Close() })
	msg := pattern(100<<10, 5)
	go func() {
		client.SetWriteDeadline(time.Now().Add(bound))
		client.Write(msg)
		client.Close() // net.Pipe has no half-close
	}()
	server.SetReadDeadline(time.Now().Add(bound))
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(server, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("server got %v, want the %d bytes sent", err, len(msg))
	}
	server.Close() // both directions must end for Relay to return
	select {
	case r := <-done:
		if r.st.Up != int64(len(msg)) {
			t.Errorf("Stats.Up = %d, want %d", r.st.Up, len(msg))
		}
	case <-time.After(bound):
		t.Fatal("relay did not end after the client closed")
	}
}

// One tunnel whose client stops reading must not slow another: there is no
// shared buffer or lock on the data path.
func TestRelayBackPressureIsPerTunnel(t *testing.T) {
	stuck := startRelay(t, 0)
	// Fill every buffer between stuck's server and its non-reading client
	// until a write cannot complete: that is the event "stuck is stuck".
	chunk := pattern(64<<10, 6)
	var filled bool
	for i := 0; i < 4096 && !filled; i++ {
		stuck.server.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := stuck.server.Write(chunk); err != nil {
			if !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
				t.Fatalf("filling the stuck tunnel: %v", err)
			}
			filled = true
		}
	}
	if !filled {
		t.Fatal("256 MiB went into a tunnel whose client never reads")
	}

	free := startRelay(t, 0)
	payload := pattern(8<<20, 7)
	got := make(chan []byte, 1)
	go func() { got <- readAll(t, free.client) }()
	if err := writeAndCloseWrite(free.server, payload); err != nil {
		t.Fatalf("free tunnel write while the other is stuck: %v", err)
	}
	if b := <-got; !bytes.Equal(b, payload) {
		t.Fatalf("free tunnel delivered %d bytes, want %d", len(b), len(payload))
	}
	select {
	case r := <-stuck.done:
		stuck.done <- r
		t.Fatalf("stuck tunnel ended (%v); the test no longer shows independence", r.err)
	default:
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Both peers send and neither reads: both directions end up waiting on
// writes, where no read deadline fires. The idle timeout still ends the
// tunnel (found in an audit: it stayed up for as long as the client did).
func TestRelayIdleWhenBothWritesBlock(t *testing.T) {
	w := startRelay(t, 200*time.Millisecond)
	flood := func(c *net.TCPConn) {
		c.SetWriteDeadline(time.Now().Add(bound))
		chunk := make([]byte, 64<<10)
		for range 10000 { // far more than the socket buffers and pipes hold
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}
	go flood(w.client)
	go flood(w.server)
	r := w.wait(t)
	if !errors.Is(r.err, tunnel.ErrIdle) {
		t.Fatalf("Relay = %v, want ErrIdle", r.err)
	}
}
