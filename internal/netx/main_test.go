package netx

import (
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const bound = 10 * time.Second

// tcpPair returns the two ends of a loopback TCP connection, closed at
// cleanup; the server end has a read deadline of bound.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	s.SetReadDeadline(time.Now().Add(bound))
	return c.(*net.TCPConn), s.(*net.TCPConn)
}
