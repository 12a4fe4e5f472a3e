package tunnel_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
)

// startDetached runs tunnel.Start over two loopback pairs; the result
// arrives on the returned channel, which must see exactly one value.
func startDetached(t *testing.T, ctx context.Context) (client, server *net.TCPConn, done chan relayResult) {
	t.Helper()
	c, pc := tcpPair(t)
	ps, s := tcpPair(t)
	done = make(chan relayResult, 2)
	tunnel.Start(ctx, pc, ps, 0, func(st tunnel.Stats, err error) {
		done <- relayResult{st, err}
	})
	return c, s, done
}

func waitResult(t *testing.T, done chan relayResult) relayResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(bound):
		t.Fatalf("done not called within %v", bound)
		return relayResult{}
	}
}

// Start relays on goroutines of its own: the caller is gone before a byte
// moves, and done reports what moved each way once both sides closed.
func TestStartRelaysAfterCallerReturns(t *testing.T) {
	client, server, done := startDetached(t, context.Background())
	up := pattern(1<<20+3, 5)
	down := pattern(700<<10+1, 6)
	gotUp := make(chan []byte, 1)
	go func() { gotUp <- readAll(t, server) }()
	gotDown := make(chan []byte, 1)
	go func() { gotDown <- readAll(t, client) }()
	for _, w := range []struct {
		c *net.TCPConn
		b []byte
	}{{client, up}, {server, down}} {
		if _, err := w.c.Write(w.b); err != nil {
			t.Fatal(err)
		}
		w.c.CloseWrite()
	}
	if b := <-gotUp; !bytes.Equal(b, up) {
		t.Errorf("server got %d bytes, want the %d sent, byte for byte", len(b), len(up))
	}
	if b := <-gotDown; !bytes.Equal(b, down) {
		t.Errorf("client got %d bytes, want the %d sent, byte for byte", len(b), len(down))
	}
	r := waitResult(t, done)
	if r.err != nil || r.st.Up != int64(len(up)) || r.st.Down != int64(len(down)) {
		t.Errorf("done(%+v, %v), want {Up:%d Down:%d} and nil", r.st, r.err, len(up), len(down))
	}
	select {
	case r := <-done:
		t.Errorf("done called twice (again with %+v, %v)", r.st, r.err)
	default:
	}
}

// Cancelling the context ends a Start relay as it ends a Relay one.
func TestStartCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	client, _, done := startDetached(t, ctx)
	cancel()
	r := waitResult(t, done)
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("done error %v, want context.Canceled", r.err)
	}
	client.SetReadDeadline(time.Now().Add(bound))
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Error("client conn still open after cancel")
	}
}
