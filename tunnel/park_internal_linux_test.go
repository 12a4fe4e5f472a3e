package tunnel

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// If epoll_wait ever fails, parking stops for good: every parked direction
// resumes and from then on waits in the runtime's poller, still relaying.
func TestStopParkingResumesParked(t *testing.T) {
	parked := make(chan struct{}, 64)
	restore := ParkAggressively(time.Millisecond, func() { parked <- struct{}{} })
	t.Cleanup(func() {
		restore()
		parking.mu.Lock()
		parking.broken = false
		parking.mu.Unlock()
	})
	pair := func() (a, b net.Conn) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		a, err = net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		b, err = ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}
	client, pc := pair()
	ps, server := pair()
	done := make(chan error, 1)
	Start(context.Background(), pc, ps, 0, func(_ Stats, err error) { done <- err })
	for range 2 {
		select {
		case <-parked:
		case <-time.After(10 * time.Second):
			t.Fatal("directions did not park")
		}
	}
	stopParking()
	for _, p := range []struct{ from, to net.Conn }{{client, server}, {server, client}} {
		if _, err := p.from.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		p.to.SetReadDeadline(time.Now().Add(10 * time.Second))
		got := make([]byte, 2)
		if _, err := io.ReadFull(p.to, got); err != nil || string(got) != "hi" {
			t.Fatalf("after stopParking: read %q, %v", got, err)
		}
	}
	client.(*net.TCPConn).CloseWrite()
	server.(*net.TCPConn).CloseWrite()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("relay ended with %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("relay did not end")
	}
	if n := len(parked); n != 0 {
		t.Errorf("%d parks after stopParking, want none", n)
	}
}
