package reverse

import (
	"net"
	"net/netip"

	"github.com/ferry-proxy/ferry/internal/proxyhdr"
	"github.com/pires/go-proxyproto"
)

// readProxyHeader takes the PROXY v1 or v2 header that a trusted balancer
// sends first, and nothing after it (internal/proxyhdr): the conn stays a
// *net.TCPConn (so the relay still splices) and the ClientHello behind
// the header is still queued for the next peek.
func readProxyHeader(pk *peeker) (*proxyproto.Header, error) {
	h, n, err := proxyhdr.Parse(pk.Peek)
	if err != nil {
		return nil, err
	}
	if err := pk.Discard(n); err != nil {
		return nil, err
	}
	return h, nil
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
