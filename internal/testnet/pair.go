package testnet

import (
	"net"
	"testing"
)

// TCPPair returns the two ends of one loopback TCP connection, both
// closed at cleanup. No deadline is set: the caller bounds its reads.
func TCPPair(tb testing.TB) (dialed, accepted *net.TCPConn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	a, err := ln.Accept()
	if err != nil {
		d.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close(); a.Close() })
	return d.(*net.TCPConn), a.(*net.TCPConn)
}
