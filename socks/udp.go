package socks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/udpframe"
	"github.com/ferry-proxy/ferry/tunnel"
)

// associate5 serves UDP ASSOCIATE (RFC 1928 §7): a relay socket of its
// own on the address the client reached ferry at, reported in the reply;
// the association is returned, for relayAssociation. Only the client may
// use the relay: datagrams from its address (the control connection's
// source) and from the port it declared, or, when it declared none, the
// port its first datagram came from.
func (s *Server) associate5(ctx context.Context, c net.Conn, req *tunnel.Request, rec *accesslog.Record, r request5) (*granted, error) {
	rec.Method = "UDP_ASSOCIATE"
	req.Proto = tunnel.ProtoUDP
	local, _ := netip.ParseAddrPort(c.LocalAddr().String())
	relay, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local.Addr().Unmap(), 0)))
	if err != nil {
		return nil, s.refuse5(c, rec, repGeneralFailure, tunnel.Errorf(tunnel.Internal, "UDP relay socket on %s: %v", local.Addr(), err))
	}
	p := &clientPackets{conn: relay, r: tunnel.NewUDPReader(relay), ip: req.Client.Addr().Unmap()}
	p.port.Store(uint32(r.port))
	a, err := s.engine.Associate(ctx, req, p)
	if err != nil {
		relay.Close()
		return nil, s.refuse5(c, rec, tunnel.KindOf(err).SOCKS5Reply(), err)
	}
	bnd, _ := netip.ParseAddrPort(relay.LocalAddr().String())
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(appendReply5(make([]byte, 0, 22), repSucceeded, bnd)); err != nil {
		a.Close()
		rec.Err = err
		rec.Finish()
		return nil, nil
	}
	return &granted{rec: rec, assoc: a}, nil
}

// relayAssociation runs a granted association until the control
// connection closes or the association idles out, on a goroutine of its
// own (the handshake's, whose stack grew, has ended: an idle association
// costs less), then writes its access event and calls end.
func (s *Server) relayAssociation(c net.Conn, t *granted, end func()) {
	defer end()
	c.SetDeadline(time.Time{})
	stop := watchControl(c, 0, t.assoc.End)
	st, err := t.assoc.Run()
	c.Close() // the association is over: so is its control connection
	stop()
	noteAssociation(t.rec, &st, err)
	t.rec.Finish()
}

// noteAssociation fills an association's access record: the first
// destination as its target and what the engine decided for it, the
// counts, and why it ended (nothing when the client ended it).
func noteAssociation(rec *accesslog.Record, st *tunnel.PacketStats, err error) {
	rec.Note(st.Outcome)
	if len(st.First) > 0 {
		rec.Target = st.First[0]
	}
	rec.BytesUp, rec.BytesDown, rec.Packets = st.Up, st.Down, st
	rec.Err = err
}

// clientPackets is the client's side of a SOCKS5 UDP association: its
// datagrams on the relay socket, each behind a SOCKS5 UDP request header
// (RFC 1928 §7) that names the destination; replies get a header naming
// their source.
type clientPackets struct {
	conn *net.UDPConn
	r    *tunnel.UDPReader
	ip   netip.Addr    // the client's address: the control connection's source
	port atomic.Uint32 // the client's port, declared or first seen; 0 until known

	// The name of the last datagram sent to a name, so that a client
	// talking to one name does not cost a string per datagram.
	lastName []byte
	lastHost string
}

// ReadPacket reads the client's next datagram. One from another address
// is dropped as a stranger's; a header cut short or of an unknown address
// type as malformed; a fragment (FRAG not 0) too, since ferry does not
// reassemble (RFC 1928 §7 lets a server drop them).
func (p *clientPackets) ReadPacket(b *tunnel.PacketBuf) (int, int, tunnel.PacketAddr, error) {
	n, from, err := p.r.Read(b)
	if err != nil {
		p.r.Release()
		return 0, 0, tunnel.PacketAddr{}, err
	}
	if from.Addr() != p.ip {
		return 0, 0, tunnel.PacketAddr{}, tunnel.DropStranger
	}
	switch port := p.port.Load(); {
	case port == 0:
		p.port.Store(uint32(from.Port()))
	case uint16(port) != from.Port():
		return 0, 0, tunnel.PacketAddr{}, tunnel.DropStranger
	}
	d := b.Bytes()[tunnel.PacketHeadroom : tunnel.PacketHeadroom+n]
	h, err := udpframe.ParseSOCKS(d)
	switch {
	case errors.Is(err, udpframe.ErrFragment):
		return 0, 0, tunnel.PacketAddr{}, tunnel.DropFragment
	case err != nil:
		return 0, 0, tunnel.PacketAddr{}, tunnel.DropMalformed
	}
	dst := tunnel.AddrOf(h.Addr)
	if h.Name != nil {
		if string(h.Name) != p.lastHost {
			p.lastHost = string(h.Name)
		}
		dst = tunnel.NameOf(p.lastHost, h.Addr.Port())
	}
	return tunnel.PacketHeadroom + h.Len, n - h.Len, dst, nil
}

// WritePacket sends a reply to the client, behind the header naming its
// source. A send that fails drops the datagram, as UDP would.
func (p *clientPackets) WritePacket(b []byte, off int, src tunnel.PacketAddr) error {
	port := p.port.Load()
	if port == 0 {
		return tunnel.DropSend // the client has not said where it is yet
	}
	start := udpframe.PutSOCKS(b[:off], src.AddrPort, src.Host)
	if _, err := p.conn.WriteToUDPAddrPort(b[start:], netip.AddrPortFrom(p.ip, uint16(port))); err != nil {
		return tunnel.DropSend
	}
	return nil
}

// Close closes the relay socket.
func (p *clientPackets) Close() error { return p.conn.Close() }

// errChatty ends an association whose client sends on the control
// connection, which carries nothing once the reply is sent.
var errChatty = errors.New("the client sent more than 64 KiB on the control connection")

// watchControl reads the control connection while a command waits (BIND)
// or runs (UDP ASSOCIATE) on it: its end, or a failure, calls left (with
// nil for a clean close). What the client sends is kept, up to keep
// bytes, and then reading stops: the data for a BIND's peer, sent before
// the peer connected. With keep 0 it is dropped, up to 64 KiB, after
// which left is called with errChatty. stop ends the watch (the caller
// has closed c, or is taking it over) and returns what was kept.
func watchControl(c net.Conn, keep int, left func(error)) (stop func() []byte) {
	var stopping atomic.Bool
	done := make(chan []byte, 1)
	go func() {
		var kept []byte
		defer func() { done <- kept }()
		buf := make([]byte, 512)
		for dropped := 0; dropped < 64<<10; {
			if keep > 0 {
				if len(kept) >= keep {
					return
				}
				buf = buf[:min(len(buf), keep-len(kept))]
			}
			n, err := c.Read(buf)
			if keep > 0 {
				kept = append(kept, buf[:n]...)
			} else {
				dropped += n
			}
			if err != nil {
				if !stopping.Load() {
					left(controlEnd(err))
				}
				return
			}
		}
		left(errChatty)
	}()
	return func() []byte {
		stopping.Store(true)
		c.SetReadDeadline(time.Unix(1, 0))
		kept := <-done
		c.SetReadDeadline(time.Time{})
		return kept
	}
}

// controlEnd is why a control connection ended: nil for the client's
// clean close.
func controlEnd(err error) error {
	if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
		return nil
	}
	return fmt.Errorf("control connection: %w", err)
}
