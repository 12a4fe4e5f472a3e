package tunnel_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
)

// bound is the most any single step of a test may take; it turns a hang
// into a failure, and is never what a test waits for.
const bound = 10 * time.Second

// tcpPair returns the two ends of one loopback TCP connection.
func tcpPair(t testing.TB) (dialed, accepted *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   *net.TCPConn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.AcceptTCP()
		ch <- res{c, err}
	}()
	d, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		d.Close()
		t.Fatal(r.err)
	}
	t.Cleanup(func() { d.Close(); r.c.Close() })
	return d, r.c
}

type relayResult struct {
	st  tunnel.Stats
	err error
}

// relayWorld is client ⇄ [Relay] ⇄ server over two loopback TCP pairs.
// client and server are the applications' ends; Relay holds the others.
type relayWorld struct {
	client, server *net.TCPConn
	cancel         context.CancelFunc
	done           chan relayResult
}

func startRelay(t testing.TB, idle time.Duration) *relayWorld {
	t.Helper()
	client, proxyClient := tcpPair(t)
	proxyServer, server := tcpPair(t)
	return startRelayOn(t, client, server, proxyClient, proxyServer, idle)
}

func startRelayOn(t testing.TB, client, server *net.TCPConn, pc, ps net.Conn, idle time.Duration) *relayWorld {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &relayWorld{client: client, server: server, cancel: cancel, done: make(chan relayResult, 1)}
	tunnel.Start(ctx, pc, ps, idle, func(st tunnel.Stats, err error) { w.done <- relayResult{st, err} })
	t.Cleanup(func() {
		cancel()
		client.Close()
		server.Close()
		w.wait(t)
	})
	return w
}

// wait returns the relay's result, failing the test if it does not end
// within bound.
func (w *relayWorld) wait(t testing.TB) relayResult {
	t.Helper()
	select {
	case r := <-w.done:
		w.done <- r // later waits (t.Cleanup) see it too
		return r
	case <-time.After(bound):
		t.Fatalf("relay did not end within %v", bound)
		return relayResult{}
	}
}

// readAll reads c to EOF under a deadline.
func readAll(t testing.TB, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(bound))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Errorf("read to EOF: %v", err)
	}
	return b
}

// pattern is n deterministic, non-repeating-looking bytes.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// wrapped hides a *net.TCPConn behind another type, which takes the
// relay's splice path away but keeps half-close.
type wrapped struct{ net.Conn }

func (w wrapped) CloseWrite() error { return w.Conn.(*net.TCPConn).CloseWrite() }
