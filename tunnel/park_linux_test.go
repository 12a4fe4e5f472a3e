package tunnel_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
)

// parkAlways makes every silent Start direction park after a millisecond
// for the rest of the test; the returned channel gets a value each time
// one parks.
func parkAlways(t *testing.T) <-chan struct{} {
	parked := make(chan struct{}, 1024)
	restore := tunnel.ParkAggressively(time.Millisecond, func() {
		select {
		case parked <- struct{}{}:
		default:
		}
	})
	t.Cleanup(restore)
	return parked
}

func awaitParks(t *testing.T, parked <-chan struct{}, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-parked:
		case <-time.After(bound):
			t.Fatalf("%d of %d directions parked within %v", i, n, bound)
		}
	}
}

// The relay tests again, with directions that park whenever they wait: what parks must wake on data, EOF and the idle timeout, and move
// every byte. (Cancel while parked: TestParkedTunnelEnds.)
func TestRelaySuiteParked(t *testing.T) {
	parked := parkAlways(t)
	for _, tt := range []struct {
		name string
		test func(*testing.T)
	}{
		{"BothWaysByteExact", TestRelayBothWaysByteExact},
		{"HalfClose", TestRelayHalfClose},
		{"IdleEndsSilentTunnel", TestRelayIdleEndsSilentTunnel},
		{"IdleKeptAliveByOneDirection", TestRelayIdleKeptAliveByOneDirection},
		{"BackPressureIsPerTunnel", TestRelayBackPressureIsPerTunnel},
	} {
		t.Run(tt.name, tt.test)
	}
	if len(parked) == 0 {
		t.Error("no direction parked: the suite did not exercise parking")
	}
}

// Both directions of an idle tunnel park; each wakes on its socket, many
// times over, and the tunnel still ends cleanly with every byte counted.
func TestParkedTunnelWakesEachWay(t *testing.T) {
	parked := parkAlways(t)
	client, server, done := startDetached(t, context.Background())
	awaitParks(t, parked, 2)
	var up, down int64
	for round := range 20 {
		for _, p := range []struct {
			from, to io.ReadWriter
			n        *int64
		}{{client, server, &up}, {server, client, &down}} {
			msg := bytes.Repeat([]byte{byte(round)}, round+1)
			if _, err := p.from.Write(msg); err != nil {
				t.Fatal(err)
			}
			client.SetReadDeadline(time.Now().Add(bound))
			server.SetReadDeadline(time.Now().Add(bound))
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(p.to, got); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("round %d: read %q, %v; want %q", round, got, err, msg)
			}
			*p.n += int64(len(msg))
			awaitParks(t, parked, 1) // the direction that moved parks again
		}
	}
	client.CloseWrite()
	if got := readAll(t, server); len(got) != 0 {
		t.Fatalf("server read %d bytes after the client's half-close, want EOF", len(got))
	}
	server.CloseWrite()
	if got := readAll(t, client); len(got) != 0 {
		t.Fatalf("client read %d bytes after the server's half-close, want EOF", len(got))
	}
	r := waitResult(t, done)
	if r.err != nil || r.st.Up != up || r.st.Down != down {
		t.Errorf("done(%+v, %v), want {Up:%d Down:%d} and nil", r.st, r.err, up, down)
	}
}

// A tunnel parked both ways still ends at its idle timeout, and on cancel.
func TestParkedTunnelEnds(t *testing.T) {
	for _, tt := range []struct {
		name   string
		idle   time.Duration
		cancel bool
		want   error
	}{
		{"idle timeout", 50 * time.Millisecond, false, tunnel.ErrIdle},
		{"cancel", 0, true, context.Canceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			parked := parkAlways(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c, pc := tcpPair(t)
			ps, _ := tcpPair(t)
			done := make(chan relayResult, 2)
			tunnel.Start(ctx, pc, ps, tt.idle, func(st tunnel.Stats, err error) { done <- relayResult{st, err} })
			awaitParks(t, parked, 2)
			if tt.cancel {
				cancel()
			}
			if r := waitResult(t, done); !errors.Is(r.err, tt.want) {
				t.Errorf("done error %v, want %v", r.err, tt.want)
			}
			c.SetReadDeadline(time.Now().Add(bound))
			if _, err := c.Read(make([]byte, 1)); err == nil {
				t.Error("client conn still open after the tunnel ended")
			}
		})
	}
}
