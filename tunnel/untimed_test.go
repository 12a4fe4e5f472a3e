package tunnel_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
)

// untimed is a stream whose reads take no deadline, as an HTTP/2 stream
// read directly: SetReadDeadline does nothing.
type untimed struct {
	net.Conn // one end of a net.Pipe
}

func (u untimed) SetReadDeadline(time.Time) error { return nil }
func (u untimed) ReadSizes() (small, big int)     { return 2 << 10, 64 << 10 }
func (u untimed) CloseWrite() error               { return nil }

// A direction that reads an UntimedReader is read with no deadline; the
// tunnel's idle timeout still ends it, by the relay's timer, also when
// it is the only direction left (the other ended with a half-close).
// Bytes it moves keep the tunnel alive.
func TestRelayUntimedIdle(t *testing.T) {
	const idle = 100 * time.Millisecond
	c, pc := tcpPair(t)
	end, far := net.Pipe()
	t.Cleanup(func() { end.Close(); far.Close() })
	done := make(chan relayResult, 1)
	tunnel.Start(context.Background(), pc, untimed{end}, idle, func(st tunnel.Stats, err error) { done <- relayResult{st, err} })

	// Down, from the untimed side, for three idle periods: the tunnel lives.
	stop := time.Now().Add(3 * idle)
	got := make([]byte, 1)
	for time.Now().Before(stop) {
		go far.Write([]byte{'d'})
		c.SetReadDeadline(time.Now().Add(bound))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("byte down while busy: %v", err)
		}
		select {
		case r := <-done:
			t.Fatalf("tunnel ended while bytes moved: %v", r.err)
		case <-time.After(idle / 4):
		}
	}
	c.CloseWrite() // the up direction ends; the untimed read is all that waits
	r := waitResult(t, done)
	if !errors.Is(r.err, tunnel.ErrIdle) {
		t.Fatalf("done error %v, want ErrIdle", r.err)
	}
}
