package tunnel

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
)

// Datagram associations (issue 17). A client sends UDP datagrams to any
// number of destinations through one association; the engine checks each
// destination with the ACL and routes it before the first datagram to
// it, sends, and passes the replies back. A front end frames the client's
// side (PacketClient): SOCKS5's UDP header on a relay socket of its own
// (RFC 1928 §7), or RFC 9297 capsules on an HTTP stream (CONNECT-UDP,
// RFC 9298). The rest is the same for both (packet_assoc.go): the
// destinations and their ways out (direct, packet_direct.go; a SOCKS5
// upstream's own association, packet_socks.go; a CONNECT-UDP tunnel
// through an HTTP upstream, packet_masque.go), the idle timeout, the
// limits (packet_limits.go) and the counters.

// PacketAddr is where a datagram goes, or where a reply came from: an
// address, or a name and a port, which ferry resolves (or an upstream
// does).
type PacketAddr struct {
	AddrPort netip.AddrPort // the address and port; with a Host, only the port counts
	Host     string         // a name, canonical (CanonicalHost); "" for an address
}

// AddrOf is the PacketAddr of an address.
func AddrOf(ap netip.AddrPort) PacketAddr {
	return PacketAddr{AddrPort: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
}

// NameOf is the PacketAddr of a name and port.
func NameOf(host string, port uint16) PacketAddr {
	return PacketAddr{AddrPort: netip.AddrPortFrom(netip.Addr{}, port), Host: host}
}

// Port is the destination port.
func (a PacketAddr) Port() uint16 { return a.AddrPort.Port() }

// String is host:port.
func (a PacketAddr) String() string {
	if a.Host != "" {
		return net.JoinHostPort(a.Host, strconv.Itoa(int(a.Port())))
	}
	return a.AddrPort.String()
}

// PacketHeadroom is the room a buffer keeps in front of a datagram's
// payload, so that any framing (a SOCKS5 UDP header with a 255-byte name:
// 262 bytes; a capsule header: 10) is written in place, without a copy.
const PacketHeadroom = 272

// MaxDatagram is the largest UDP payload ferry carries: what fits in an
// IPv4 or IPv6 datagram without jumbograms.
const MaxDatagram = 65535

// packetBufSize is one datagram buffer: the headroom, then the payload.
const packetBufSize = PacketHeadroom + MaxDatagram

// PacketClient is the client's side of an association, framed by its
// front end. ReadPacket is called by one goroutine at a time;
// WritePacket may be called from several at once.
type PacketClient interface {
	// ReadPacket reads the client's next datagram into b (taking its
	// buffer only once there is one to read: an idle client holds none)
	// and reports where its payload lies, b.Bytes()[off:off+n] with off at
	// least PacketHeadroom, and where it goes. A datagram that is dropped
	// is reported as a Drop; any other error ends the association, io.EOF
	// as the client's own end.
	ReadPacket(b *PacketBuf) (off, n int, dst PacketAddr, err error)
	// WritePacket sends b[off:], a datagram from src, to the client;
	// b[:off] is free for framing (at least PacketHeadroom bytes). A Drop
	// counts the datagram as dropped; any other error ends the
	// association.
	WritePacket(b []byte, off int, src PacketAddr) error
	// Close ends the client's side: a ReadPacket waiting returns.
	Close() error
}

// Drop is why a datagram was dropped: a small fixed set, fit for a metric
// label. As an error (from a PacketClient) it drops one datagram and the
// association goes on.
type Drop uint8

// Reasons to drop a datagram.
const (
	DropStranger    Drop = iota // from an address other than the client's
	DropMalformed               // a header cut short, an unknown address type, a bad capsule
	DropFragment                // a SOCKS5 fragment (FRAG not 0): ferry does not reassemble
	DropTooMany                 // to a destination past max_destinations
	DropDenied                  // to a destination the ACL denied
	DropUnreachable             // to a destination that did not resolve, or with no way to it
	DropQueue                   // while its destination was being set up, past what may wait
	DropUnsolicited             // a reply from an address the client never sent to
	DropSend                    // the send failed (a full socket buffer, a closed way)
	numDrops
)

var dropNames = [numDrops]string{"stranger", "malformed", "fragment", "too_many_destinations",
	"denied", "unreachable", "queue", "unsolicited", "send_failed"}

// String names the reason, as logs and metrics do.
func (d Drop) String() string {
	if d < numDrops {
		return dropNames[d]
	}
	return "unknown"
}

func (d Drop) Error() string { return "datagram dropped: " + d.String() }

// Drops lists every reason, for metrics that show each from the start.
func Drops() []Drop {
	ds := make([]Drop, numDrops)
	for i := range ds {
		ds[i] = Drop(i)
	}
	return ds
}

// PacketStats is what an association moved and dropped.
type PacketStats struct {
	Up, Down             int64    // payload bytes: client → destinations, destinations → client
	DgramsUp, DgramsDown int64    // datagrams sent each way
	Dests                int      // destinations the client sent to
	First                []string // the first few of them, host:port, in order
	Denied               int      // destinations the ACL denied
	Dropped              [numDrops]int64
	// Outcome is what the engine decided for the first destination (its
	// rule, route, upstream and address), or the first denied one when
	// every destination was denied.
	Outcome Outcome
}

// DroppedTotal is the datagrams dropped for any reason.
func (s *PacketStats) DroppedTotal() int64 {
	var n int64
	for _, d := range s.Dropped {
		n += d
	}
	return n
}

// firstDests is how many destinations PacketStats.First keeps.
const firstDests = 4

// errAssocEnded is a setup that finished after its association ended.
var errAssocEnded = errors.New("the association has ended")
