package front

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/ferry-proxy/ferry/internal/netx"
	"github.com/ferry-proxy/ferry/internal/proxyhdr"
)

// PlaintextRefuser is implemented by a Handler that can tell a client
// speaking plaintext to a TLS listener what went wrong (an HTTP 400
// saying to use https:// for the proxy).
type PlaintextRefuser interface {
	RefusePlaintext(c net.Conn)
}

// recordTypeHandshake is the first byte of every TLS connection: a
// handshake record holding the ClientHello (RFC 8446 §5.1).
const recordTypeHandshake = 0x16

// handshake runs the TLS server handshake of a connection accepted on a
// TLS listener, under the handshake deadline (the read deadline already
// set, and a write deadline as long). A client that starts with anything
// but a TLS record is told so when it looks like HTTP and closed; a
// failed handshake is closed. The conn returned is the *tls.Conn. buf is
// the peek's (one byte is enough).
func (m *Mux) handshake(ctx context.Context, c net.Conn, ln net.Listener, cfg *tls.Config, timeout time.Duration, buf []byte) (context.Context, net.Conn, bool) {
	first, pc, err := netx.Peek(c, buf, 1, nil)
	if err != nil {
		m.Log.Debug().Err(err).Str("client", proxyhdr.ClientOf(ctx, c).String()).Msg("tls sniff")
		c.Close()
		return ctx, nil, false
	}
	c = pc
	if b := first[0]; b != recordTypeHandshake {
		m.Log.Debug().Str("client", proxyhdr.ClientOf(ctx, c).String()).Msg("plaintext on a TLS listener")
		if r, ok := m.HTTP.(PlaintextRefuser); ok && classify(b) == HTTP {
			c.SetWriteDeadline(time.Now().Add(timeout))
			r.RefusePlaintext(c)
		}
		netx.LingerClose(c)
		return ctx, nil, false
	}
	// Under the TLS conn, a RecordBatcher: an HTTP/2 connection's writes
	// go out a system call each, all their records together (serveH2).
	tc := tls.Server(netx.NewRecordBatcher(c), cfg)
	c.SetWriteDeadline(time.Now().Add(timeout))
	hctx, cancel := context.WithTimeout(ctx, timeout)
	err = tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		m.Log.Debug().Err(err).Str("client", proxyhdr.ClientOf(ctx, c).String()).Msg("tls handshake")
		c.Close()
		return ctx, nil, false
	}
	c.SetWriteDeadline(time.Time{})
	if m.TLSContext != nil {
		ctx = m.TLSContext(ctx, ln, tc.ConnectionState())
	}
	return ctx, tc, true
}

// isHTTP2 reports whether c is a TLS conn whose client chose HTTP/2 by
// ALPN (RFC 9113 §3.2): it speaks HTTP, so the mux does not sniff it.
func isHTTP2(c net.Conn) bool {
	tc, ok := c.(*tls.Conn)
	return ok && tc.ConnectionState().NegotiatedProtocol == ALPNHTTP2
}
