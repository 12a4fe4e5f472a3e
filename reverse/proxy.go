package reverse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/pires/go-proxyproto"
)

// PROXY protocol sizes (haproxy's proxy-protocol.txt §2.1, §2.2).
const (
	proxyV1Max    = 107  // the longest v1 line, CRLF included
	proxyV2Fixed  = 16   // signature, version/command, family, length
	maxProxyBytes = 4096 // v2 with TLVs; larger is refused, not buffered
)

var errNoProxyHeader = errors.New("trusted peer sent no PROXY header")

// readProxyHeader takes the PROXY v1 or v2 header that a trusted balancer
// sends first, and nothing after it: the header's length is learnt from
// peeked bytes and exactly that many are read. The conn stays a
// *net.TCPConn (so the relay still splices) and the ClientHello behind
// the header is still queued for the next peek.
func readProxyHeader(pk *peeker) (*proxyproto.Header, error) {
	n, err := proxyHeaderLen(pk)
	if err != nil {
		return nil, err
	}
	b, err := pk.Peek(n)
	if err != nil {
		return nil, err
	}
	h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(b[:n])))
	if err != nil {
		return nil, fmt.Errorf("PROXY header: %w", err)
	}
	if err := pk.Discard(n); err != nil {
		return nil, err
	}
	return h, nil
}

// proxyHeaderLen peeks until it knows the header's length.
func proxyHeaderLen(pk *peeker) (int, error) {
	need := 6
	for {
		b, err := pk.Peek(need)
		if err != nil {
			return 0, err
		}
		switch {
		case bytes.HasPrefix(b, []byte("PROXY ")):
			if i := bytes.Index(b, []byte("\r\n")); i >= 0 && i+2 <= proxyV1Max {
				return i + 2, nil
			}
			if len(b) >= proxyV1Max {
				return 0, fmt.Errorf("PROXY v1 header: %w", proxyproto.ErrVersion1HeaderTooLong)
			}
			need = len(b) + 1
		case bytes.HasPrefix(proxyproto.SIGV2, b[:min(len(b), len(proxyproto.SIGV2))]):
			if len(b) < proxyV2Fixed {
				need = proxyV2Fixed
				continue
			}
			n := proxyV2Fixed + (int(b[14])<<8 | int(b[15]))
			if n > maxProxyBytes {
				return 0, fmt.Errorf("PROXY v2 header of %d bytes, more than %d", n, maxProxyBytes)
			}
			return n, nil
		default:
			return 0, errNoProxyHeader
		}
	}
}

// proxyAddrs returns the client and destination a PROXY header carries;
// ok is false for LOCAL (a balancer's own health check) and UNKNOWN, where
// the peer's own addresses stand.
func proxyAddrs(h *proxyproto.Header) (src, dst netip.AddrPort, ok bool) {
	if h.Command != proxyproto.PROXY {
		return src, dst, false
	}
	s, d, ok := h.TCPAddrs()
	if !ok {
		return src, dst, false
	}
	return s.AddrPort(), d.AddrPort(), true
}

// proxyHeader formats the header ferry sends a backend (version 1 or 2)
// so it sees the client's address.
func proxyHeader(version byte, client, dst netip.AddrPort) ([]byte, error) {
	h := proxyproto.HeaderProxyFromAddrs(version,
		net.TCPAddrFromAddrPort(unmapPort(client)), net.TCPAddrFromAddrPort(unmapPort(dst)))
	return h.Format()
}

func unmapPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
