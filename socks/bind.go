package socks

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
)

// bindEarly bounds what a BIND's client may send before its peer
// connected, kept to be passed on to the peer.
const bindEarly = 4 << 10

// errClientLeft ends a BIND whose client closed the control connection
// while it waited for the peer.
var errClientLeft = errors.New("the client closed the connection while BIND waited for its peer")

// bind5 serves BIND (RFC 1928 §4), which protocols such as FTP's active
// mode need: the engine listens on ferry's outbound address
// (tunnel.Binding), the first reply gives that address, the second the
// address of the peer that connected (the one the request names: others
// are refused), and the two connections are then relayed as for CONNECT.
// The wait is bounded by limits.bind_timeout, and ends if the client
// closes the control connection.
func (s *Server) bind5(ctx context.Context, c net.Conn, req *tunnel.Request, rec *accesslog.Record, r request5) (*granted, error) {
	rec.Method, req.Method = "BIND", "BIND"
	host, err := tunnel.CanonicalHost(r.host)
	if err != nil {
		return nil, s.refuse5(c, rec, tunnel.KindOf(err).SOCKS5Reply(), err)
	}
	req.Host, req.Port = host, r.port
	rec.Target = req.Target()
	local, _ := netip.ParseAddrPort(c.LocalAddr().String())
	b, out, err := s.engine.Bind(ctx, req, local.Addr().Unmap())
	rec.Note(out)
	if err != nil {
		rep := tunnel.KindOf(err).SOCKS5Reply()
		if errors.Is(err, tunnel.ErrBindUpstream) {
			rep = repCmdNotSupported
		}
		return nil, s.refuse5(c, rec, rep, err)
	}
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(appendReply5(make([]byte, 0, 22), repSucceeded, b.Addr())); err != nil {
		b.Close()
		rec.Err = err
		rec.Finish()
		return nil, nil
	}
	c.SetDeadline(time.Time{}) // the bind timeout bounds the wait
	wait, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := watchControl(c, bindEarly, func(err error) {
		if err == nil {
			err = errClientLeft
		}
		cancel(err)
	})
	peer, out, strangers, err := b.Accept(wait)
	early := stop()
	rec.Note(out)
	rec.Refused = strangers
	if err != nil {
		if errors.Is(err, errClientLeft) {
			rec.Err = err
			rec.Finish()
			return nil, nil
		}
		return nil, s.refuse5(c, rec, tunnel.KindOf(err).SOCKS5Reply(), err)
	}
	from, _ := netip.ParseAddrPort(peer.RemoteAddr().String())
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(appendReply5(make([]byte, 0, 22), repSucceeded, from)); err != nil {
		peer.Close()
		rec.Err = err
		rec.Finish()
		return nil, nil
	}
	c.SetWriteDeadline(time.Time{})
	return &granted{server: peer, rec: rec, early: early}, nil
}
