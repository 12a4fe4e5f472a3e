package tunnel_test

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
)

// opaqueConn hides a *net.TCPConn from the relay, as a TLS conn or an
// upstream's wrapper does: splice cannot write to it.
type opaqueConn struct{ *net.TCPConn }

// A TCP socket relayed to a conn splice cannot write to is read with its
// read as its wait (copyFromTCP): byte-exact both ways, a half-close
// passed on, the counts right.
func TestRelayTCPToOpaqueConn(t *testing.T) {
	client, pc := tcpPair(t)
	ps, server := tcpPair(t)
	w := startRelayOn(t, client, server, pc, opaqueConn{ps}, 0)
	before := tunnel.CopiedFromTCP()
	up := pattern(3<<20+17, 1)
	down := pattern(1<<20+3, 2)
	gotUp := make(chan []byte, 1)
	go func() { gotUp <- readAll(t, w.server) }()
	if err := writeAndCloseWrite(w.client, up); err != nil {
		t.Fatal(err)
	}
	if b := <-gotUp; !bytes.Equal(b, up) {
		t.Fatalf("server got %d bytes, want the %d sent, byte for byte", len(b), len(up))
	}
	// The client has half-closed: the answer must still arrive.
	gotDown := make(chan []byte, 1)
	go func() { gotDown <- readAll(t, w.client) }()
	if err := writeAndCloseWrite(w.server, down); err != nil {
		t.Fatal(err)
	}
	if b := <-gotDown; !bytes.Equal(b, down) {
		t.Fatalf("client got %d bytes, want the %d sent, byte for byte", len(b), len(down))
	}
	r := w.wait(t)
	if r.err != nil || r.st.Up != int64(len(up)) || r.st.Down != int64(len(down)) {
		t.Errorf("Relay = %+v, %v; want Up %d, Down %d, nil", r.st, r.err, len(up), len(down))
	}
	if tunnel.CopiedFromTCP() == before {
		t.Error("the client → server direction did not take copyFromTCP")
	}
}

// The idle timeout ends such a tunnel too: its deadline reaches the wait.
func TestRelayTCPToOpaqueConnIdle(t *testing.T) {
	client, pc := tcpPair(t)
	ps, server := tcpPair(t)
	w := startRelayOn(t, client, server, pc, opaqueConn{ps}, 100*time.Millisecond)
	// One byte each way first, so both directions have read and waited.
	for _, p := range []struct{ from, to *net.TCPConn }{{client, server}, {server, client}} {
		p.from.Write([]byte{'x'})
		p.to.SetReadDeadline(time.Now().Add(bound))
		if _, err := p.to.Read(make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
	}
	r := w.wait(t)
	if !errors.Is(r.err, tunnel.ErrIdle) {
		t.Fatalf("Relay = %v, want ErrIdle", r.err)
	}
}
