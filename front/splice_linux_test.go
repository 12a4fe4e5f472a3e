package front

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
)

// relayTo is a Handler that relays every conn to addr, as the front ends
// do after their handshake.
type relayTo struct {
	addr string
	done chan error
}

func (h relayTo) ServeConn(ctx context.Context, c net.Conn, _ []byte, end func()) {
	s, err := net.Dial("tcp", h.addr)
	if err != nil {
		h.done <- err
		end()
		return
	}
	c.SetReadDeadline(time.Time{})
	tunnel.Start(ctx, c, s, 0, func(_ tunnel.Stats, err error) {
		defer end()
		h.done <- err
	})
}

// A connection whose first byte the mux peeked (MSG_PEEK) reaches the
// relay as the raw *net.TCPConn, so it is spliced, and the peeked byte is
// the first the target receives.
func TestPeekedConnStillSplices(t *testing.T) {
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { target.Close() })
	got := make(chan []byte, 1)
	go func() {
		c, err := target.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(bound))
		b, _ := io.ReadAll(c)
		got <- b
	}()

	h := relayTo{addr: target.Addr().String(), done: make(chan error, 1)}
	w := newWorld(t, Auto, &Mux{SOCKS: h}, 0)
	payload := make([]byte, 1<<20)
	payload[0] = 0x05 // sniffed as SOCKS
	for i := 1; i < len(payload); i++ {
		payload[i] = byte(i * 7)
	}
	before := tunnel.SplicedChunks()
	c := w.dial(t)
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	if b := <-got; !bytes.Equal(b, payload) {
		t.Fatalf("target got %d bytes, want the %d sent, first byte included", len(b), len(payload))
	}
	if after := tunnel.SplicedChunks(); after <= before {
		t.Errorf("SplicedChunks %d → %d: the peeked conn was not spliced", before, after)
	}
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Relay = %v", err)
		}
	case <-time.After(bound):
		t.Error("relay did not end")
	}
}
