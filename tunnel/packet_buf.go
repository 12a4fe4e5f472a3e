package tunnel

import (
	"net"
	"net/netip"
	"sync"
)

// PacketBuf is a datagram buffer (PacketHeadroom, then room for the
// largest datagram) taken from a pool only when a datagram is there to be
// read, and given back when a read has to wait: an idle association holds
// no buffer, only its goroutines' stacks (issue 17: memory per idle
// association). A busy one keeps its buffer from datagram to datagram.
type PacketBuf struct{ p *[packetBufSize]byte }

var packetBufs = sync.Pool{New: func() any { return new([packetBufSize]byte) }}

// Bytes is the whole buffer, taken from the pool if not held.
func (b *PacketBuf) Bytes() []byte {
	if b.p == nil {
		b.p = packetBufs.Get().(*[packetBufSize]byte)
	}
	return b.p[:]
}

// Release gives the buffer back, if held; what Bytes returned must not be
// used after.
func (b *PacketBuf) Release() {
	if b.p != nil {
		packetBufs.Put(b.p)
		b.p = nil
	}
}

// UDPReader reads a UDP socket's datagrams into PacketBufs. While no
// datagram is waiting it holds no buffer (packet_read_linux.go; elsewhere
// the buffer is kept). One goroutine reads at a time.
type UDPReader struct {
	conn *net.UDPConn
	udpRead
}

// NewUDPReader reads conn.
func NewUDPReader(conn *net.UDPConn) *UDPReader {
	r := &UDPReader{conn: conn}
	r.init(conn)
	return r
}

// Release gives back the buffers of datagrams read ahead and not handed
// out: call it when done reading.
func (r *UDPReader) Release() { r.release() }

// Read reads the next datagram into b, after PacketHeadroom bytes:
// b.Bytes()[PacketHeadroom:PacketHeadroom+n], from from (an IPv4 address
// unmapped). Deadlines and a close end it as for any read.
func (r *UDPReader) Read(b *PacketBuf) (n int, from netip.AddrPort, err error) {
	n, from, err = r.read(r.conn, b)
	if err == nil {
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	}
	return n, from, err
}
