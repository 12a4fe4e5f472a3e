package testnet

import (
	"net"
	"net/netip"
	"testing"
)

// UDPEcho is a UDP socket on 127.0.0.1 that sends every datagram back to
// its sender, closed when the test ends.
func UDPEcho(t testing.TB) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 70000) // the largest datagram and then some
		for {
			n, src, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort(buf[:n], src)
		}
	}()
	return netip.MustParseAddrPort(c.LocalAddr().String())
}
