package front

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/ferry-proxy/ferry/internal/netx"
	"github.com/ferry-proxy/ferry/internal/proxyhdr"
)

// readProxy takes the PROXY header a balancer in ProxyFrom sends ahead of
// its client's bytes (issue 18 item 1), before TLS and the sniff, so that
// client rules, the login throttle, limits and the access log see the
// client and not the balancer: the client goes into ctx
// (proxyhdr.ClientOf). Peers not in ProxyFrom are served as they are,
// their own address standing; a PROXY header from one of them is not
// believed (the sniff sees an HTTP request it cannot parse). A trusted
// peer that sends no valid header is closed unanswered: answering would
// be speaking to the balancer, not to a client. LOCAL (a balancer's own
// health check) keeps the peer's address.
func (m *Mux) readProxy(ctx context.Context, ln net.Listener, c net.Conn) (context.Context, net.Conn, bool) {
	peer := proxyhdr.ClientOf(context.Background(), c)
	if !proxyhdr.Trusted(m.ProxyFrom(ln), peer.Addr()) {
		return ctx, c, true
	}
	h, c, err := proxyhdr.Read(c)
	if err != nil {
		ev := m.Log.Warn()
		if errors.Is(err, io.EOF) {
			ev = m.Log.Debug() // a balancer's TCP health check: connect, close
		}
		ev.Err(err).Str("peer", peer.String()).Msg("PROXY header")
		netx.LingerClose(c)
		return ctx, c, false
	}
	if src, _, ok := proxyhdr.Addrs(h); ok {
		ctx = proxyhdr.WithClient(ctx, src)
	}
	return ctx, c, true
}
