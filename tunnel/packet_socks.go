package tunnel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/ferry-proxy/ferry/internal/udpframe"
)

// socksRelay is an association's own UDP association with a SOCKS5
// upstream (RFC 1928 §7): the control connection, held open as long as
// the association lives, and a UDP socket connected to the relay address
// the upstream answered with. Every destination routed to that upstream
// shares it; the upstream sees one client, as it would see ferry's
// client.
type socksRelay struct {
	u    *Upstream
	ctrl net.Conn
	conn *net.UDPConn
	dead atomic.Bool // the upstream closed the control connection
}

// socksSlot is the relay of one upstream, or the setup making it: the
// first destination routed there makes it, the others wait.
type socksSlot struct {
	done chan struct{}
	r    *socksRelay
	err  error
}

// socksWay sends to one destination through a socksRelay: the datagram
// with the SOCKS5 UDP header naming it.
type socksWay struct {
	r   *socksRelay
	hdr []byte
}

func (w *socksWay) send(b []byte, off int) error {
	if w.r.dead.Load() {
		return errUpstreamRelayGone
	}
	start := off - len(w.hdr)
	copy(b[start:off], w.hdr)
	_, err := w.r.conn.Write(b[start:])
	return err
}

var errUpstreamRelayGone = errors.New("the upstream closed its UDP association")

// socksWay opens the way to req's target through the SOCKS5 upstream u.
// A socks5:// upstream takes addresses: ferry resolves the name and names
// the first address its ACL allows (as for CONNECT); socks5h:// is given
// the name.
func (a *Association) socksWay(ctx context.Context, req *Request, u *Upstream, out *Outcome) (packetWay, error) {
	ip, isIP := parseIP(req.Host)
	var hdr []byte
	switch {
	case isIP:
		hdr = udpframe.AppendSOCKS(nil, netip.AddrPortFrom(ip, req.Port), "")
	case u.ResolvesLocally():
		ip, err := a.allowedAddr(req, out)
		if err != nil {
			return nil, err
		}
		hdr = udpframe.AppendSOCKS(nil, netip.AddrPortFrom(ip, req.Port), "")
	case len(req.Host) > 255:
		return nil, Errorf(BadRequest, "name %q is longer than SOCKS5 carries", req.Host)
	default:
		hdr = udpframe.AppendSOCKS(nil, netip.AddrPortFrom(netip.Addr{}, req.Port), req.Host)
	}
	r, err := a.socksRelay(ctx, u)
	if err != nil {
		return nil, err
	}
	out.Dialed = r.ctrl.RemoteAddr().String()
	return &socksWay{r: r, hdr: hdr}, nil
}

// socksRelay returns the association's relay through u, making it on
// first use; a failed attempt is forgotten, so a later destination tries
// again.
func (a *Association) socksRelay(ctx context.Context, u *Upstream) (*socksRelay, error) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil, errAssocEnded
	}
	if a.socks == nil {
		a.socks = map[*Upstream]*socksSlot{}
	}
	slot, ok := a.socks[u]
	if ok {
		a.mu.Unlock()
		select {
		case <-slot.done:
			return slot.r, slot.err
		case <-ctx.Done():
			return nil, dialError(ctx.Err(), "UDP association with upstream "+u.name)
		}
	}
	slot = &socksSlot{done: make(chan struct{})}
	a.socks[u] = slot
	a.mu.Unlock()

	slot.r, slot.err = u.socksAssociate(ctx)
	if slot.err == nil {
		if !a.own(slot.r) {
			slot.r, slot.err = nil, errAssocEnded
		} else if !a.goRead(func() { a.readSOCKS(slot.r) }) || !a.goRead(func() { slot.r.watch() }) {
			slot.r, slot.err = nil, errAssocEnded
		}
	}
	if slot.err != nil {
		a.mu.Lock()
		delete(a.socks, u)
		a.mu.Unlock()
	}
	close(slot.done)
	return slot.r, slot.err
}

// Close ends the relay: the upstream ends its association with the
// control connection (RFC 1928 §7).
func (r *socksRelay) Close() error {
	r.dead.Store(true)
	r.conn.Close()
	return r.ctrl.Close()
}

// watch waits for the upstream to close the control connection; the
// relay is dead then. What the upstream sends on it is read and dropped.
func (r *socksRelay) watch() {
	io.Copy(io.Discard, r.ctrl)
	r.dead.Store(true)
	r.conn.Close()
}

// readSOCKS passes the replies the upstream relays to the client, with
// the source it names.
func (a *Association) readSOCKS(r *socksRelay) {
	rd := NewUDPReader(r.conn)
	defer rd.Release()
	var b PacketBuf
	defer b.Release()
	for fails := 0; fails < maxReadErrors; {
		n, _, err := rd.Read(&b)
		if err != nil {
			if r.dead.Load() || a.ctx.Err() != nil {
				return
			}
			// An ICMP error on the connected socket (the relay's port
			// unreachable) is reported by the next read: read on, a few
			// times in a row at most.
			fails++
			continue
		}
		fails = 0
		buf := b.Bytes()
		h, err := udpframe.ParseSOCKS(buf[PacketHeadroom : PacketHeadroom+n])
		if err != nil {
			a.drop(DropMalformed)
			continue
		}
		src := AddrOf(h.Addr)
		if h.Name != nil {
			src = NameOf(string(h.Name), h.Addr.Port())
		}
		a.deliver(buf[:PacketHeadroom+n], PacketHeadroom+h.Len, src)
	}
	r.Close()
}

// maxReadErrors is how many failed reads in a row end a relay's reader.
const maxReadErrors = 8

// socksAssociate asks the SOCKS5 upstream u for a UDP association (RFC
// 1928 §4, command 3), logging in with the URL's user info (RFC 1929).
// The relay it answers with is reached directly: UDP cannot follow a via
// chain of TCP tunnels.
func (u *Upstream) socksAssociate(ctx context.Context) (*socksRelay, error) {
	if u.via != nil {
		return nil, &Error{Kind: UpstreamFailed, NextHop: u.name,
			Err: fmt.Errorf("upstream %s is reached through %s: its UDP relay cannot be", u.name, u.via.name)}
	}
	ctrl, err := u.DialParent(ctx)
	if err != nil {
		return nil, err
	}
	relay, err := u.socksAssociateOn(ctx, ctrl)
	if err != nil {
		ctrl.Close()
		return nil, u.judge(err)
	}
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(relay))
	if err != nil {
		ctrl.Close()
		return nil, u.fault(dialError(err, "UDP socket to the relay of upstream "+u.name))
	}
	u.health.succeeded()
	return &socksRelay{u: u, ctrl: u.counted(ctrl), conn: conn}, nil
}

// socksAssociateOn runs the handshake on ctrl and returns the relay's
// address; an unspecified one (0.0.0.0, which many servers answer) is
// the upstream's own address.
func (u *Upstream) socksAssociateOn(ctx context.Context, ctrl net.Conn) (netip.AddrPort, error) {
	stop := deadlineFrom(ctx, ctrl)
	defer stop()
	t := &transcript{Conn: ctrl}
	var user, pass string
	offerAuth := u.spec.URL.User != nil
	if offerAuth {
		user = u.spec.URL.User.Username()
		pass, _ = u.spec.URL.User.Password()
	}
	bnd, err := socks5Associate(t, offerAuth, user, pass)
	if err != nil {
		if f, ok := t.failure(offerAuth); ok {
			if f.stage == socksReplied && f.rep == 0x07 {
				// Command not supported: this upstream does no UDP,
				// which is no failure of its own (TCP still goes).
				return netip.AddrPort{}, &targetFailure{&Error{Kind: BadGateway, NextHop: u.name,
					Err: fmt.Errorf("upstream %s does not serve UDP ASSOCIATE (reply 0x07)", u.name)}}
			}
			return netip.AddrPort{}, u.socksFailure(f, "UDP ASSOCIATE", err)
		}
		return netip.AddrPort{}, ctxErr(ctx, fmt.Errorf("SOCKS5 UDP ASSOCIATE with upstream %s: %w", u.name, err))
	}
	if !bnd.Addr().IsValid() || bnd.Addr().IsUnspecified() {
		parent, _ := netip.ParseAddrPort(ctrl.RemoteAddr().String())
		bnd = netip.AddrPortFrom(parent.Addr().Unmap(), bnd.Port())
	}
	return bnd, nil
}

// socks5Associate speaks a SOCKS5 client's side of UDP ASSOCIATE on rw:
// the greeting (no auth, or username/password when offered), the RFC
// 1929 login, the request for a client address not known yet (all
// zeros, RFC 1928 §7) and the reply, whose BND.ADDR and BND.PORT are
// returned. A reply with a name is refused: the relay must be an address.
func socks5Associate(rw io.ReadWriter, offerAuth bool, user, pass string) (netip.AddrPort, error) {
	greet := []byte{5, 1, 0}
	if offerAuth {
		greet = []byte{5, 2, 0, 2}
	}
	if _, err := rw.Write(greet); err != nil {
		return netip.AddrPort{}, err
	}
	var sel [2]byte
	if _, err := io.ReadFull(rw, sel[:]); err != nil {
		return netip.AddrPort{}, err
	}
	switch {
	case sel[0] != 5:
		return netip.AddrPort{}, fmt.Errorf("not a SOCKS5 server (version %d)", sel[0])
	case sel[1] == 2 && offerAuth:
		if len(user) > 255 || len(pass) > 255 {
			return netip.AddrPort{}, errors.New("user or password longer than 255 bytes")
		}
		login := append([]byte{1, byte(len(user))}, user...)
		login = append(append(login, byte(len(pass))), pass...)
		if _, err := rw.Write(login); err != nil {
			return netip.AddrPort{}, err
		}
		var st [2]byte
		if _, err := io.ReadFull(rw, st[:]); err != nil {
			return netip.AddrPort{}, err
		}
		if st[1] != 0 {
			return netip.AddrPort{}, errors.New("username/password refused")
		}
	case sel[1] != 0:
		return netip.AddrPort{}, fmt.Errorf("no acceptable method (0x%02x)", sel[1])
	}
	if _, err := rw.Write([]byte{5, 3, 0, 1, 0, 0, 0, 0, 0, 0}); err != nil {
		return netip.AddrPort{}, err
	}
	var rep [4]byte
	if _, err := io.ReadFull(rw, rep[:]); err != nil {
		return netip.AddrPort{}, err
	}
	if rep[1] != 0 {
		return netip.AddrPort{}, fmt.Errorf("reply 0x%02x", rep[1])
	}
	var ip netip.Addr
	switch rep[3] {
	case 1:
		var a [4]byte
		if _, err := io.ReadFull(rw, a[:]); err != nil {
			return netip.AddrPort{}, err
		}
		ip = netip.AddrFrom4(a)
	case 4:
		var a [16]byte
		if _, err := io.ReadFull(rw, a[:]); err != nil {
			return netip.AddrPort{}, err
		}
		ip = netip.AddrFrom16(a).Unmap()
	default:
		return netip.AddrPort{}, fmt.Errorf("relay address of type 0x%02x: want an IP address", rep[3])
	}
	var p [2]byte
	if _, err := io.ReadFull(rw, p[:]); err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(ip, binary.BigEndian.Uint16(p[:])), nil
}
