package udpframe

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// SOCKS5 address types (RFC 1928 §5).
const (
	atypIPv4   = 0x01
	atypDomain = 0x03
	atypIPv6   = 0x04
)

// MaxSOCKSHeader is the longest SOCKS5 UDP request header: RSV FRAG ATYP,
// a 255-byte name with its length, and the port.
const MaxSOCKSHeader = 2 + 1 + 1 + 1 + 255 + 2

// Why a SOCKS5 UDP header is refused.
var (
	ErrTruncated = errors.New("socks udp: header cut short")
	ErrAddrType  = errors.New("socks udp: unknown address type")
	ErrFragment  = errors.New("socks udp: fragment (FRAG not 0)")
	ErrEmptyName = errors.New("socks udp: empty name")
)

// SOCKSHeader is a parsed SOCKS5 UDP request header: the destination (or,
// in a datagram from the relay, the source) as an address, or as a name
// and port.
type SOCKSHeader struct {
	Addr netip.AddrPort // the address, or only the port when Name is set
	Name []byte         // the name as sent, aliasing the datagram; nil for an address
	Len  int            // bytes of header: the payload starts here
}

// ParseSOCKS parses the header at the start of a datagram b:
//
//	+----+------+------+----------+----------+----------+
//	|RSV | FRAG | ATYP | DST.ADDR | DST.PORT |   DATA   |
//	+----+------+------+----------+----------+----------+
//	| 2  |  1   |  1   | Variable |    2     | Variable |
//
// RSV is not checked (RFC 1928 reserves it; peers differ). A fragment
// (FRAG not 0) is refused with ErrFragment: ferry does not reassemble,
// which RFC 1928 §7 allows ("an implementation that does not support
// fragmentation MUST drop any datagram whose FRAG field is other than
// X'00'").
func ParseSOCKS(b []byte) (SOCKSHeader, error) {
	if len(b) < 4 {
		return SOCKSHeader{}, ErrTruncated
	}
	if b[2] != 0 {
		return SOCKSHeader{}, ErrFragment
	}
	var h SOCKSHeader
	var ip netip.Addr
	rest := b[4:]
	switch b[3] {
	case atypIPv4:
		if len(rest) < 4+2 {
			return SOCKSHeader{}, ErrTruncated
		}
		ip = netip.AddrFrom4([4]byte(rest[:4]))
		rest = rest[4:]
	case atypIPv6:
		if len(rest) < 16+2 {
			return SOCKSHeader{}, ErrTruncated
		}
		ip = netip.AddrFrom16([16]byte(rest[:16])).Unmap()
		rest = rest[16:]
	case atypDomain:
		if len(rest) < 1 || len(rest) < 1+int(rest[0])+2 {
			return SOCKSHeader{}, ErrTruncated
		}
		n := int(rest[0])
		if n == 0 {
			return SOCKSHeader{}, ErrEmptyName
		}
		h.Name = rest[1 : 1+n]
		rest = rest[1+n:]
	default:
		return SOCKSHeader{}, ErrAddrType
	}
	h.Addr = netip.AddrPortFrom(ip, binary.BigEndian.Uint16(rest))
	h.Len = len(b) - len(rest) + 2
	return h, nil
}

// SOCKSHeaderLen is the length of the header for an address, or for a
// name (when name is not "") of up to 255 bytes.
func SOCKSHeaderLen(ap netip.AddrPort, name string) int {
	switch {
	case name != "":
		return 4 + 1 + len(name) + 2
	case ap.Addr().Unmap().Is4():
		return 4 + 4 + 2
	}
	return 4 + 16 + 2
}

// PutSOCKS writes the header for an address, or for a name and ap's
// port, into the end of b, which must hold SOCKSHeaderLen bytes, and
// returns where it starts: b[start:] is the header, so that a payload
// that follows b in the same buffer needs no copy. A name longer than 255
// bytes cannot be framed: callers keep names to what they parsed.
func PutSOCKS(b []byte, ap netip.AddrPort, name string) (start int) {
	start = len(b) - SOCKSHeaderLen(ap, name)
	h := b[start:]
	h[0], h[1], h[2] = 0, 0, 0
	switch a := ap.Addr().Unmap(); {
	case name != "":
		h[3] = atypDomain
		h[4] = byte(len(name))
		copy(h[5:], name)
	case a.Is4():
		h[3] = atypIPv4
		a4 := a.As4()
		copy(h[4:], a4[:])
	default:
		h[3] = atypIPv6
		a16 := a.As16()
		copy(h[4:], a16[:])
	}
	binary.BigEndian.PutUint16(h[len(h)-2:], ap.Port())
	return start
}

// AppendSOCKS appends the header for an address, or a name and ap's port.
func AppendSOCKS(b []byte, ap netip.AddrPort, name string) []byte {
	n := SOCKSHeaderLen(ap, name)
	b = append(b, make([]byte, n)...)
	PutSOCKS(b, ap, name)
	return b
}
