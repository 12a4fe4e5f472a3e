//go:build !linux

package tunnel

import (
	"net"
	"net/netip"
)

// udpRead keeps its buffer while it waits: off Linux the runtime offers
// no read that waits first and takes a buffer after.
type udpRead struct{}

func (udpRead) init(*net.UDPConn) {}

func (udpRead) release() {}

func (udpRead) read(conn *net.UDPConn, b *PacketBuf) (int, netip.AddrPort, error) {
	return conn.ReadFromUDPAddrPort(b.Bytes()[PacketHeadroom:])
}
