package proxyhdr

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/ferry-proxy/ferry/internal/netx"
	"github.com/pires/go-proxyproto"
)

// PROXY protocol sizes (haproxy's proxy-protocol.txt §2.1, §2.2).
const (
	v1Max    = 107  // the longest v1 line, CRLF included
	v2Fixed  = 16   // signature, version/command, family, length
	MaxBytes = 4096 // v2 with TLVs; larger is refused, not buffered
)

// ErrMissing is returned when a peer that must send a PROXY header sent
// something else first.
var ErrMissing = errors.New("trusted peer sent no PROXY header")

// Read takes the PROXY header from c, which a trusted peer must send
// first, and nothing after it: its length is learnt from peeked bytes
// (peek returns at least n bytes or an error) and exactly that many are
// read. It returns the header and the conn to go on with (c, or on a
// conn that cannot be peeked in place the netx.Conn that replays what was
// read ahead). Reads happen under c's read deadline.
func Read(c net.Conn) (*proxyproto.Header, net.Conn, error) {
	var buf [256]byte
	peek := func(n int) ([]byte, error) {
		b, pc, err := netx.Peek(c, buf[:], MaxBytes, func(b []byte) bool { return len(b) >= n })
		c = pc
		return b, err
	}
	h, n, err := Parse(peek)
	if err != nil {
		return nil, c, err
	}
	if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil {
		return nil, c, err
	}
	return h, c, nil
}

// Parse reads the header from what peek shows (peek(n) returns at least n
// bytes, perhaps more, or an error) and returns it with its length, which
// the caller then takes from the conn.
func Parse(peek func(n int) ([]byte, error)) (*proxyproto.Header, int, error) {
	n, err := headerLen(peek)
	if err != nil {
		return nil, 0, err
	}
	b, err := peek(n)
	if err != nil {
		return nil, 0, err
	}
	h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(b[:n])))
	if err != nil {
		return nil, 0, fmt.Errorf("PROXY header: %w", err)
	}
	return h, n, nil
}

// headerLen peeks until it knows the header's length.
func headerLen(peek func(n int) ([]byte, error)) (int, error) {
	need := 6
	for range v1Max + 1 { // each turn peeks one byte more, or returns
		b, err := peek(need)
		if err != nil {
			return 0, err
		}
		switch {
		case bytes.HasPrefix(b, []byte("PROXY ")):
			if i := bytes.Index(b, []byte("\r\n")); i >= 0 && i+2 <= v1Max {
				return i + 2, nil
			}
			if len(b) >= v1Max {
				return 0, fmt.Errorf("PROXY v1 header: %w", proxyproto.ErrVersion1HeaderTooLong)
			}
			need = len(b) + 1
		case bytes.HasPrefix(proxyproto.SIGV2, b[:min(len(b), len(proxyproto.SIGV2))]):
			if len(b) < v2Fixed {
				need = v2Fixed
				continue
			}
			n := v2Fixed + (int(b[14])<<8 | int(b[15]))
			if n > MaxBytes {
				return 0, fmt.Errorf("PROXY v2 header of %d bytes, more than %d", n, MaxBytes)
			}
			return n, nil
		default:
			return 0, ErrMissing
		}
	}
	return 0, fmt.Errorf("PROXY v1 header: %w", proxyproto.ErrVersion1HeaderTooLong)
}

// Looks reports whether b, the first bytes a peer sent (5 or more), start
// as a PROXY v1 or v2 header does: to say so when a peer that is not
// trusted sends one, rather than that its bytes are not what the listener
// speaks.
func Looks(b []byte) bool {
	v1 := []byte("PROXY ")
	n1, n2 := min(len(b), len(v1)), min(len(b), len(proxyproto.SIGV2))
	return len(b) >= 5 && (bytes.Equal(b[:n1], v1[:n1]) || bytes.Equal(b[:n2], proxyproto.SIGV2[:n2]))
}

// Addrs returns the client and destination a PROXY header carries; ok is
// false for LOCAL (a balancer's own health check) and UNKNOWN, where the
// peer's own addresses stand.
func Addrs(h *proxyproto.Header) (src, dst netip.AddrPort, ok bool) {
	if h.Command != proxyproto.PROXY {
		return src, dst, false
	}
	s, d, ok := h.TCPAddrs()
	if !ok {
		return src, dst, false
	}
	return unmap(s.AddrPort()), unmap(d.AddrPort()), true
}

// unmap gives an IPv4 address in its 4-byte form, as ferry logs and
// matches it.
func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// ParsePrefix reads a CIDR or a bare address (a /32 or /128), as
// proxy_protocol_from lists them. Host bits are masked, not refused.
func ParsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad CIDR or address %q", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// Trusted reports whether a is in one of the prefixes (the balancers a
// PROXY header is believed from).
func Trusted(from []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap().WithZone("") // a zone is no part of the address a CIDR names
	for _, p := range from {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

type clientKey struct{}

// WithClient marks ctx as a connection on behalf of client, as a trusted
// PROXY header named it; front ends read it with ClientOf.
func WithClient(ctx context.Context, client netip.AddrPort) context.Context {
	return context.WithValue(ctx, clientKey{}, client)
}

// ClientOf is the client of the connection c: the one a trusted PROXY
// header named (WithClient), else c's peer.
func ClientOf(ctx context.Context, c net.Conn) netip.AddrPort {
	if ap, ok := ctx.Value(clientKey{}).(netip.AddrPort); ok {
		return ap
	}
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return unmap(ta.AddrPort())
	}
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	return ap
}
