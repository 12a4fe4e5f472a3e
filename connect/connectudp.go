package connect

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/udpframe"
	"github.com/ferry-proxy/ferry/tunnel"
	"golang.org/x/net/http/httpguts"
)

// CONNECT-UDP (RFC 9298) over HTTP/1.1: a client asks for UDP to one
// target with a GET on the default URI template,
// /.well-known/masque/udp/{host}/{port}/, upgraded to connect-udp
// (§3.3); after the 101 each datagram is a DATAGRAM capsule (RFC 9297
// §3.5) on the connection, both ways. ferry serves it on its listeners,
// to any RFC 9298 client, and speaks it as a client to its HTTP
// upstreams (tunnel/packet_masque.go): that is how one ferry carries
// another's UDP over TLS. The target is one destination of a datagram
// association of the engine (tunnel.Association): the ACL (proto udp),
// the route and the dial are decided before the 101, so a refusal is an
// HTTP answer with Proxy-Status.

// isConnectUDP reports a request for ferry's CONNECT-UDP template (its
// own path: origin-form). An absolute-form one is for an origin and is
// forwarded like any upgrade.
func isConnectUDP(r *http.Request) bool {
	return !r.URL.IsAbs() && strings.HasPrefix(r.URL.Path, udpframe.MasquePrefix)
}

// serveConnectUDP answers a request for the CONNECT-UDP template: a
// refusal on w, or 101 and the association, relayed here until it ends.
// It reports whether the connection was taken over (and end called).
func (hc *httpConn) serveConnectUDP(w *response, r *http.Request) bool {
	s := hc.s
	req := &tunnel.Request{Proto: tunnel.ProtoUDP, Client: hc.client}
	rec := accesslog.Start(s.sink, tunnel.ProtoConnect, req.Client)
	rec.Method = "CONNECT-UDP"
	rec.URL = r.URL.Path
	dst, err := connectUDPTarget(r)
	if err == nil {
		rec.Target = dst.String()
		err = s.engine.Authenticate(r.Context(), req, proxyCredentials(r.Header))
		rec.User = req.User
	}
	if err != nil {
		s.refuse(w, r, rec, err)
		rec.Finish()
		return false
	}
	client := &capsuleClient{c: hc.c, dst: dst}
	a, err := s.engine.Associate(hc.ctx, req, client)
	if err != nil {
		s.refuse(w, r, rec, err)
		rec.Finish()
		return false
	}
	out, err := a.Prepare(dst)
	rec.Note(out)
	if err != nil {
		a.Close()
		s.refuse(w, r, rec, err)
		rec.Finish()
		return false
	}
	h := w.Header()
	h.Set("Connection", "Upgrade")
	h.Set("Upgrade", "connect-udp")
	h.Set("Capsule-Protocol", "?1")
	w.WriteHeader(http.StatusSwitchingProtocols)
	rec.Status = http.StatusSwitchingProtocols
	early, err := hc.handOver(w)
	if err != nil {
		a.Close()
		rec.Err = err
		rec.Finish()
		hc.c.Close()
		hc.end()
		return true
	}
	client.start(early)
	st, err := a.Run()
	hc.c.Close()
	rec.Note(st.Outcome)
	rec.BytesUp, rec.BytesDown, rec.Packets, rec.Err = st.Up, st.Down, &st, err
	rec.Finish()
	hc.end()
	return true
}

// connectUDPTarget checks a CONNECT-UDP request as RFC 9298 §3.3 asks
// (GET, HTTP/1.1, Upgrade: connect-udp, Connection: Upgrade) and reads
// its target from the path.
func connectUDPTarget(r *http.Request) (tunnel.PacketAddr, error) {
	switch {
	case r.Method != http.MethodGet:
		return tunnel.PacketAddr{}, tunnel.Errorf(tunnel.BadRequest, "CONNECT-UDP with method %s: want GET (RFC 9298 section 3.3)", r.Method)
	case r.ProtoMinor < 1:
		return tunnel.PacketAddr{}, tunnel.Errorf(tunnel.BadRequest, "CONNECT-UDP over HTTP/1.0: want HTTP/1.1 (RFC 9298 section 3.3)")
	case !httpguts.HeaderValuesContainsToken(r.Header["Upgrade"], "connect-udp"),
		!httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade"):
		return tunnel.PacketAddr{}, tunnel.Errorf(tunnel.BadRequest, "CONNECT-UDP without Upgrade: connect-udp and Connection: Upgrade (RFC 9298 section 3.3)")
	}
	return masqueTarget(r)
}

// masqueTarget reads a CONNECT-UDP request's target from its path, the
// default URI template's (RFC 9298 §2).
func masqueTarget(r *http.Request) (tunnel.PacketAddr, error) {
	host, port, ok := udpframe.ParseMasquePath(r.URL.EscapedPath())
	if !ok {
		return tunnel.PacketAddr{}, tunnel.Errorf(tunnel.BadRequest, "bad CONNECT-UDP target %q: want %s{host}/{port}/", clip(r.URL.Path), udpframe.MasquePrefix)
	}
	host, err := tunnel.CanonicalHost(host)
	if err != nil {
		return tunnel.PacketAddr{}, err
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return tunnel.AddrOf(netip.AddrPortFrom(ip, port)), nil
	}
	return tunnel.NameOf(host, port), nil
}

// capsuleClient is the client's side of a CONNECT-UDP tunnel: DATAGRAM
// capsules on the upgraded connection (or the HTTP/2 stream), to and from
// its one target.
type capsuleClient struct {
	c   capsuleConn
	br  *bufio.Reader
	dst tunnel.PacketAddr

	mu       sync.Mutex // replies come from several goroutines
	up       bool       // the 101 is out: replies may be written
	deadline time.Time
}

// capsuleConn is what capsules go over: an upgraded net.Conn, or an
// HTTP/2 stream (h2Stream).
type capsuleConn interface {
	io.ReadWriteCloser
	SetWriteDeadline(t time.Time) error
}

// capsuleWriteTimeout bounds a reply's write to a client that stopped
// reading; past it the tunnel ends.
const capsuleWriteTimeout = 10 * time.Second

// start begins reading capsules, after the bytes the client sent with its
// request, and lets replies out.
func (p *capsuleClient) start(early []byte) {
	var r io.Reader = p.c
	if len(early) > 0 {
		r = io.MultiReader(bytes.NewReader(early), p.c)
	}
	p.br = bufio.NewReaderSize(r, 4096)
	p.mu.Lock()
	p.up = true
	p.mu.Unlock()
}

// ReadPacket reads the next DATAGRAM capsule. Capsules of other types are
// skipped (RFC 9297 §3.2), a run of them dropped as malformed; a capsule
// that cannot be read past ends the tunnel.
func (p *capsuleClient) ReadPacket(b *tunnel.PacketBuf) (int, int, tunnel.PacketAddr, error) {
	for range maxSkipped {
		n, ok, err := tunnel.ReadCapsule(p.br, b)
		if err != nil {
			return 0, 0, tunnel.PacketAddr{}, err
		}
		if ok {
			return tunnel.PacketHeadroom, n, p.dst, nil
		}
	}
	return 0, 0, tunnel.PacketAddr{}, tunnel.DropMalformed
}

// maxSkipped is how many capsules without a datagram ReadPacket reads
// past at a time.
const maxSkipped = 16

// WritePacket sends a reply as a DATAGRAM capsule.
func (p *capsuleClient) WritePacket(b []byte, off int, _ tunnel.PacketAddr) error {
	start := udpframe.PutDatagram(b[:off], len(b)-off)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.up {
		return tunnel.DropSend
	}
	if now := time.Now(); p.deadline.Sub(now) < capsuleWriteTimeout/2 {
		p.deadline = now.Add(capsuleWriteTimeout)
		p.c.SetWriteDeadline(p.deadline)
	}
	_, err := p.c.Write(b[start:])
	return err
}

// Close closes the connection: the association is over. Before the 101
// it leaves the connection alone, for the refusal.
func (p *capsuleClient) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.up {
		return nil
	}
	return p.c.Close()
}
