package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/ferry-proxy/ferry/limit"
)

// Binding is a SOCKS5 BIND (RFC 1928 §4): a socket listening on ferry's
// outbound address for one connection from the peer the client expects
// (an FTP server's active-mode data connection, say). The front end
// reports its address in the first reply, then waits in Accept for the
// peer, whose address the second reply carries.
type Binding struct {
	e        *Engine
	req      Request
	ln       *net.TCPListener
	expected []netip.Addr // the peer's addresses the ACL allows; none: any it allows
	deadline time.Time
	lim      *limit.Ticket // its [[limit]] slots, held from Bind to the relay's end
}

// ErrBindUpstream refuses a BIND whose route names an upstream: a peer
// can connect only to ferry's own address.
var ErrBindUpstream = errors.New("BIND is served direct only")

// Bind checks a BIND request and opens its listening socket. req names
// the expected peer (Method "BIND"): an address, a name (resolved here;
// every address the ACL allows is expected), or the unspecified address
// when the client does not know it (any peer, the ACL asked about the
// one that connects). Only the peer's address counts, not its port: an
// FTP server connects from a port of its own. near is where the client
// reached ferry, the address listened on when no peer address is known;
// otherwise it is the address ferry reaches the peer from. The [[limit]]
// rules admit a BIND as a tunnel (a Limited error over one): it holds a
// slot while it waits and while its connection is relayed, whose bytes
// count into the quotas.
func (e *Engine) Bind(ctx context.Context, req *Request, near netip.Addr) (*Binding, Outcome, error) {
	b, out, err := e.bind(ctx, req, near)
	if err != nil {
		return nil, out, err
	}
	if b.lim, err = e.Admit(ctx, req); err != nil {
		b.ln.Close()
		return nil, out, err
	}
	return b, out, nil
}

func (e *Engine) bind(ctx context.Context, req *Request, near netip.Addr) (*Binding, Outcome, error) {
	b := &Binding{e: e, req: *req}
	var out Outcome
	anyPeer := false
	if ip, ok := parseIP(req.Host); ok && ip.IsUnspecified() {
		anyPeer = true
	} else {
		var err error
		if out, err = e.Authorize(ctx, req); err != nil {
			return nil, out, err
		}
	}
	plan, out, err := e.Route(ctx, req)
	if err != nil {
		return nil, out, err
	}
	if !plan.Direct() {
		return nil, out, &Error{Kind: BadRequest, Err: fmt.Errorf("%w: route %q sends %s to %s", ErrBindUpstream, plan.Route, req.Target(), plan.Via)}
	}
	local := near
	if !anyPeer {
		if b.expected, err = b.allowed(ctx, &out); err != nil {
			return nil, out, err
		}
		local = outboundAddr(b.expected[0], near)
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: local.AsSlice()})
	if err != nil {
		return nil, out, &Error{Kind: Internal, Err: fmt.Errorf("BIND listen on %s: %w", local, err)}
	}
	b.ln = ln
	b.deadline = time.Now().Add(e.cfg.BindTimeout)
	return b, out, nil
}

// allowed resolves the expected peer and keeps the addresses the ACL
// allows; none is a refusal.
func (b *Binding) allowed(ctx context.Context, out *Outcome) ([]netip.Addr, error) {
	addrs, err := b.e.lookup(ctx, b.req.Host)
	if err != nil {
		return nil, err
	}
	q := b.e.query(&b.req)
	acl := b.e.policy.Load().ACL
	var ok []netip.Addr
	for _, ip := range addrs {
		q.IP = ip
		v := acl.Decide(&q)
		out.decided(v.Rule, v.Allow)
		if v.Allow {
			ok = append(ok, ip)
		}
	}
	if len(ok) == 0 {
		return nil, &Error{Kind: DeniedIP, Rule: out.Rule, Err: fmt.Errorf("every address of %s denied by rule %q", b.req.Host, out.Rule)}
	}
	if len(ok) < len(addrs) {
		out.decided(out.Rule, true) // the last verdict may be a deny of one address
	}
	return ok, nil
}

// outboundAddr is the source address the kernel would use toward peer (a
// UDP socket's connect sends nothing); near when there is no route.
func outboundAddr(peer, near netip.Addr) netip.Addr {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(peer, 9)))
	if err != nil {
		return near
	}
	defer c.Close()
	ap, err := netip.ParseAddrPort(c.LocalAddr().String())
	if err != nil {
		return near
	}
	return ap.Addr().Unmap()
}

// Addr is where the peer is to connect: the first reply's BND.ADDR and
// BND.PORT.
func (b *Binding) Addr() netip.AddrPort {
	ap, _ := netip.ParseAddrPort(b.ln.Addr().String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// maxStrangers bounds the connections from others that one BIND refuses
// before it gives up.
const maxStrangers = 64

// Accept waits, until the bind timeout or ctx's end, for the expected
// peer and returns its connection, what the ACL decided about it, and how
// many connections from others it refused (each closed at once). The
// listening socket is closed when Accept returns. The connection holds
// the binding's limits until it is closed (a relay unwraps it to splice).
func (b *Binding) Accept(ctx context.Context) (net.Conn, Outcome, int, error) {
	c, out, strangers, err := b.accept(ctx)
	if err != nil {
		b.lim.Done()
		return nil, out, strangers, err
	}
	return limited(c, b.lim), out, strangers, nil
}

func (b *Binding) accept(ctx context.Context) (*net.TCPConn, Outcome, int, error) {
	defer b.ln.Close()
	b.ln.SetDeadline(b.deadline)
	stop := context.AfterFunc(ctx, func() { b.ln.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var out Outcome
	for strangers := 0; strangers < maxStrangers; strangers++ {
		c, err := b.ln.AcceptTCP()
		if err != nil {
			if ctx.Err() != nil {
				return nil, out, strangers, context.Cause(ctx)
			}
			if KindOf(err) == Timeout {
				return nil, out, strangers, Errorf(Timeout, "BIND: no connection from %s within %v", b.req.Host, b.e.cfg.BindTimeout)
			}
			return nil, out, strangers, &Error{Kind: Internal, Err: fmt.Errorf("BIND accept: %w", err)}
		}
		peer, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		ip := peer.Addr().Unmap()
		if b.expected != nil && !slices.Contains(b.expected, ip) {
			refuse(c)
			continue
		}
		if b.expected == nil {
			v, err := b.e.AuthorizeAddr(ctx, &b.req, ip)
			out = out.Then(v)
			if err != nil {
				refuse(c)
				continue
			}
		}
		out.Dialed = netip.AddrPortFrom(ip, peer.Port()).String()
		return c, out, strangers, nil
	}
	return nil, out, maxStrangers, Errorf(DeniedIP, "BIND: %d connections from others than %s; giving up", maxStrangers, b.req.Host)
}

// Close closes the listening socket of a binding not accepted from and
// gives back its limits.
func (b *Binding) Close() {
	b.ln.Close()
	b.lim.Done()
}

// refuse closes a stranger's connection with a reset: it was never
// served.
func refuse(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}
