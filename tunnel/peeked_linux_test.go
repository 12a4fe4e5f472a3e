package tunnel_test

import (
	"bytes"
	"testing"

	"github.com/ferry-proxy/ferry/internal/netx"
	"github.com/ferry-proxy/ferry/tunnel"
)

// A peeked conn (netx.Conn) over a TCP socket is relayed as tcpproxy's
// Conn is: what was read ahead goes first, then the socket under it is
// spliced; and the other direction writes to that socket directly.
func TestRelayPeekedConnReplaysThenSplices(t *testing.T) {
	client, pc := tcpPair(t)
	ps, server := tcpPair(t)
	ahead := []byte("read ahead by a sniff; ")
	peeked := &netx.Conn{Conn: pc, Peeked: ahead}
	if _, ok := tunnel.TCPOf(peeked); !ok {
		t.Fatal("the relay does not see the socket under a netx.Conn")
	}
	before := tunnel.SplicedChunks()
	w := startRelayOn(t, client, server, peeked, ps, 0)
	payload := pattern(1<<20, 5)
	got := make(chan []byte, 1)
	go func() { got <- readAll(t, w.server) }()
	if err := writeAndCloseWrite(w.client, payload); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, append(ahead, payload...)) {
		t.Fatalf("server got %d bytes, want the %d read ahead, then the %d sent", len(b), len(ahead), len(payload))
	}
	down := pattern(256<<10, 6)
	back := make(chan []byte, 1)
	go func() { back <- readAll(t, w.client) }()
	if err := writeAndCloseWrite(w.server, down); err != nil {
		t.Fatal(err)
	}
	if b := <-back; !bytes.Equal(b, down) {
		t.Fatalf("client got %d bytes, want %d", len(b), len(down))
	}
	r := w.wait(t)
	if r.err != nil || r.st.Up != int64(len(ahead)+len(payload)) {
		t.Errorf("relay: %+v, %v; want up %d", r.st, r.err, len(ahead)+len(payload))
	}
	if after := tunnel.SplicedChunks(); after <= before {
		t.Errorf("SplicedChunks %d → %d: the peeked conn was copied, not spliced", before, after)
	}
}
