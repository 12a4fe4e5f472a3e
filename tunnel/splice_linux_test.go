package tunnel_test

import (
	"bytes"
	"testing"

	"github.com/ferry-proxy/ferry/tunnel"
)

// The relay between two *net.TCPConn goes through splicePump, whose reads
// are TCPConn.ReadFrom(io.LimitedReader{*net.TCPConn}): the one shape for
// which Go uses splice(2). SplicedChunks counts those reads.
func TestRelaySplicesTCP(t *testing.T) {
	before := tunnel.SplicedChunks()
	w := startRelay(t, 0)
	payload := pattern(1<<20, 8)
	got := make(chan []byte, 1)
	go func() { got <- readAll(t, w.server) }()
	if err := writeAndCloseWrite(w.client, payload); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, payload) {
		t.Fatalf("server got %d bytes, want %d", len(b), len(payload))
	}
	w.server.CloseWrite()
	w.wait(t)
	if after := tunnel.SplicedChunks(); after <= before {
		t.Errorf("SplicedChunks %d → %d: the TCP relay did not take the splice path", before, after)
	}
}

// The counter is not advanced by the copy path, so the test above can fail.
func TestRelayCopyPathDoesNotCountSplice(t *testing.T) {
	client, pc := tcpPair(t)
	ps, server := tcpPair(t)
	before := tunnel.SplicedChunks()
	// Hiding the *net.TCPConn behind an interface value of another type
	// takes the splice path away.
	w := startRelayOn(t, client, server, wrapped{pc}, wrapped{ps}, 0)
	if err := writeAndCloseWrite(w.client, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, w.server); string(b) != "hello" {
		t.Fatalf("server got %q", b)
	}
	w.server.CloseWrite()
	w.wait(t)
	if after := tunnel.SplicedChunks(); after != before {
		t.Errorf("SplicedChunks %d → %d on a relay of wrapped conns", before, after)
	}
}
