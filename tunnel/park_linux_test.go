package tunnel_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
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

// cutConn writes one Write in two parts when cut is set: the first at
// bytes, then, once release is closed, the rest.
type cutConn struct {
	net.Conn
	at      int
	release chan struct{} // non-nil: cut the next Write
}

func (c *cutConn) Write(p []byte) (int, error) {
	if c.release == nil || len(p) <= c.at {
		return c.Conn.Write(p)
	}
	release := c.release
	c.release = nil
	n, err := c.Conn.Write(p[:c.at])
	if err != nil {
		return n, err
	}
	<-release
	m, err := c.Conn.Write(p[c.at:])
	return n + m, err
}

// tlsPair is a TLS conn over loopback TCP, both ends: the server end is
// what a TLS listener hands the relay (a tls.Conn over the socket); the
// client end writes through a cutConn.
func tlsPair(t *testing.T) (client *tls.Conn, cut *cutConn, server *tls.Conn) {
	t.Helper()
	p := newPKI(t)
	c, s := tcpPair(t)
	cut = &cutConn{Conn: c}
	client = tls.Client(cut, &tls.Config{RootCAs: p.roots, ServerName: "localhost"})
	server = tls.Server(s, p.serverTLS(false))
	errc := make(chan error, 1)
	go func() { errc <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return client, cut, server
}

// A tunnel whose client side is TLS (a TLS listener's) parks both ways
// too: the TLS direction gives back its buffer and goroutine when a read
// finds no whole record, and wakes on the socket under the TLS conn, many
// times over; a record that arrives in two parts, a half-close each way
// and the count of bytes all still work.
func TestParkedTLSTunnel(t *testing.T) {
	parked := parkAlways(t)
	client, cut, pc := tlsPair(t)
	ps, server := tcpPair(t)
	done := make(chan relayResult, 2)
	tunnel.Start(context.Background(), pc, ps, 0, func(st tunnel.Stats, err error) { done <- relayResult{st, err} })
	awaitParks(t, parked, 2)
	var up, down int64
	for round := range 20 {
		msg := bytes.Repeat([]byte{byte(round)}, 1+round*1000) // up to two records
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		server.SetReadDeadline(time.Now().Add(bound))
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(server, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("round %d up: read %d bytes, %v", round, len(got), err)
		}
		up += int64(len(msg))
		awaitParks(t, parked, 1)
		if _, err := server.Write(msg); err != nil {
			t.Fatal(err)
		}
		client.SetReadDeadline(time.Now().Add(bound))
		if _, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("round %d down: read %d bytes, %v", round, len(got), err)
		}
		down += int64(len(msg))
		awaitParks(t, parked, 1)
	}
	// A record cut in two on the wire: the direction wakes on its first 7
	// bytes, finds no whole record, parks holding them, and the rest
	// wakes it again.
	release := make(chan struct{})
	cut.at, cut.release = 7, release
	const msg = "a record cut in two"
	wrote := make(chan error, 1)
	go func() {
		_, err := client.Write([]byte(msg))
		wrote <- err
	}()
	awaitParks(t, parked, 1)
	close(release)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	server.SetReadDeadline(time.Now().Add(bound))
	if _, err := io.ReadFull(server, got); err != nil || string(got) != msg {
		t.Fatalf("cut record: read %q, %v", got, err)
	}
	up += int64(len(msg))
	client.CloseWrite() // close_notify: EOF on the TLS side
	if got := readAll(t, server); len(got) != 0 {
		t.Fatalf("server read %d bytes after the client's close_notify, want EOF", len(got))
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
