package tunnel

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
)

// directSocket is an association's own socket for the destinations ferry
// reaches itself: one unconnected UDP socket for all of them, so that
// each sees the same source address and port (endpoint-independent
// mapping, RFC 4787 §4.1, what STUN and peer-to-peer clients expect), and
// replies pass only from addresses it sent to (address- and
// port-dependent filtering, RFC 4787 §5): anything else is dropped as
// unsolicited. It is made when the first direct destination is set up.
type directSocket struct {
	conn *net.UDPConn
}

// directWay sends to one destination through the direct socket.
type directWay struct {
	conn *net.UDPConn
	to   netip.AddrPort
}

func (w *directWay) send(b []byte, off int) error {
	_, err := w.conn.WriteToUDPAddrPort(b[off:], w.to)
	return err
}

// directSocket returns the association's direct socket, made on first
// use: dual-stack where the host has IPv6, on an ephemeral port of every
// address (the kernel picks the source address by route, as for TCP).
func (a *Association) directSocket() (*directSocket, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, errAssocEnded
	}
	if a.direct != nil {
		return a.direct, nil
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		return nil, &Error{Kind: Internal, Err: fmt.Errorf("UDP socket: %w", err)}
	}
	s := &directSocket{conn: conn}
	a.direct = s
	a.closers = append(a.closers, conn)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.readDirect(s)
	}()
	return s, nil
}

// allowReplies lets replies from to through the direct socket.
func (a *Association) allowReplies(to netip.AddrPort) {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := *a.peers.Load()
	if _, ok := old[to]; ok {
		return
	}
	peers := maps.Clone(old)
	peers[to] = struct{}{}
	a.peers.Store(&peers)
}

// readDirect passes the direct socket's replies to the client, those from
// an address the client sent to; it ends when the socket is closed.
func (a *Association) readDirect(s *directSocket) {
	r := NewUDPReader(s.conn)
	defer r.Release()
	var b PacketBuf
	defer b.Release()
	for {
		n, from, err := r.Read(&b)
		if err != nil {
			if a.ctx.Err() == nil {
				a.End(fmt.Errorf("direct UDP socket: %w", err))
			}
			return
		}
		if _, ok := (*a.peers.Load())[from]; !ok {
			a.drop(DropUnsolicited)
			continue
		}
		a.deliver(b.Bytes()[:PacketHeadroom+n], PacketHeadroom, AddrOf(from))
	}
}
