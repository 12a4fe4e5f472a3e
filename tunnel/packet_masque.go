package tunnel

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/internal/udpframe"
	"golang.org/x/net/http/httpguts"
)

// masqueWay sends to one destination through a CONNECT-UDP tunnel (RFC
// 9298 over HTTP/1.1, §3.3) through an HTTP upstream, a ferry or any
// RFC 9298 proxy: each datagram is a DATAGRAM capsule (RFC 9297 §3.5) on
// the tunnel's stream. HTTP/1.1 carries one target per connection, so
// each destination routed there has a tunnel of its own.
type masqueWay struct {
	c        net.Conn
	deadline time.Time // the write deadline set last (sends are never concurrent)
	dead     atomic.Bool
}

// masqueWriteTimeout bounds a datagram's write on a tunnel whose
// upstream stopped reading: the association's reads wait for it, so a
// stuck tunnel is given up rather than waited for.
const masqueWriteTimeout = 5 * time.Second

func (w *masqueWay) send(b []byte, off int) error {
	if w.dead.Load() {
		return errUpstreamRelayGone
	}
	start := udpframe.PutDatagram(b[:off], len(b)-off)
	// A deadline per write would cost a timer update per datagram; it is
	// moved on only once half of it is used up.
	if now := time.Now(); w.deadline.Sub(now) < masqueWriteTimeout/2 {
		w.deadline = now.Add(masqueWriteTimeout)
		w.c.SetWriteDeadline(w.deadline)
	}
	if _, err := w.c.Write(b[start:]); err != nil {
		// A capsule cut short leaves the stream unreadable: it is over.
		w.dead.Store(true)
		w.c.Close()
		return err
	}
	return nil
}

// masqueWay opens a CONNECT-UDP tunnel to req's target through the HTTP
// upstream u. The upstream resolves the name and applies its own rules.
// Replies come back with the destination as the client named it.
func (a *Association) masqueWay(ctx context.Context, req *Request, u *Upstream, d *packetDest, out *Outcome) (packetWay, error) {
	parent, err := u.DialParent(ctx)
	if err != nil {
		return nil, err
	}
	out.Dialed = parent.RemoteAddr().String()
	c, err := u.connectUDP(ctx, parent, req.Host, req.Port)
	if err != nil {
		parent.Close()
		return nil, u.judge(err)
	}
	u.health.succeeded()
	w := &masqueWay{c: u.counted(c)}
	if !a.own(w.c) || !a.goRead(func() { a.readMasque(w, d.addr) }) {
		return nil, errAssocEnded
	}
	return w, nil
}

// readMasque passes the datagrams the tunnel carries back to the client.
func (a *Association) readMasque(w *masqueWay, src PacketAddr) {
	defer func() {
		w.dead.Store(true)
		w.c.Close()
	}()
	br := bufio.NewReaderSize(w.c, 4096)
	var b PacketBuf
	defer b.Release()
	for skipped := 0; skipped < maxSkippedCapsules; {
		n, ok, err := ReadCapsule(br, &b)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && a.ctx.Err() == nil {
				a.drop(DropMalformed)
			}
			return
		}
		if !ok {
			skipped++
			continue
		}
		skipped = 0
		a.deliver(b.Bytes()[:PacketHeadroom+n], PacketHeadroom, src)
	}
}

// ReadCapsule reads the next capsule from r (udpframe.ReadDatagram), a
// DATAGRAM's payload into b after PacketHeadroom bytes. b's buffer is
// taken only once a capsule has begun to arrive: a tunnel that waits
// holds none (r's own buffer aside).
func ReadCapsule(r *bufio.Reader, b *PacketBuf) (n int, ok bool, err error) {
	if r.Buffered() == 0 {
		b.Release()
		if _, err := r.Peek(1); err != nil {
			return 0, false, err
		}
	}
	return udpframe.ReadDatagram(r, b.Bytes()[PacketHeadroom:])
}

// maxSkippedCapsules is how many capsules in a row that carry no datagram
// a tunnel may send before ferry stops reading it.
const maxSkippedCapsules = 64

// connectUDP asks an HTTP upstream, over parent, for a CONNECT-UDP tunnel
// to host:port (RFC 9298 §3.3: GET on the default URI template, upgraded
// to connect-udp) and reads its answer. The conn returned replays what
// came after the 101's head.
func (u *Upstream) connectUDP(ctx context.Context, parent net.Conn, host string, port uint16) (net.Conn, error) {
	stop := deadlineFrom(ctx, parent)
	defer stop()
	target := net.JoinHostPort(host, fmt.Sprint(port))
	var b strings.Builder
	b.WriteString("GET ")
	b.WriteString(udpframe.MasquePath(host, port))
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(u.addr)
	b.WriteString("\r\nConnection: Upgrade\r\nUpgrade: connect-udp\r\nCapsule-Protocol: ?1\r\n")
	head, c, err := u.ask(ctx, parent, "CONNECT-UDP", &b)
	if err != nil {
		return nil, err
	}
	if err := u.connectUDPAnswer(head, target); err != nil {
		return nil, err
	}
	return c, nil
}

// connectUDPAnswer classifies the answer to CONNECT-UDP: 101 with
// Upgrade: connect-udp is a tunnel. An upstream that answers as if it
// did not know the method (a 2xx, 404, 405, 501) does not serve UDP,
// which is no failure of its own: it is not taken out. Other failures
// are read as CONNECT's are.
func (u *Upstream) connectUDPAnswer(head []byte, target string) error {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), &http.Request{Method: http.MethodGet})
	if err != nil {
		return &Error{Kind: BadGateway, Err: fmt.Errorf("upstream %s: bad answer to CONNECT-UDP: %v", u.name, err)}
	}
	resp.Body.Close()
	switch s := resp.StatusCode; {
	case s == http.StatusSwitchingProtocols:
		if !httpguts.HeaderValuesContainsToken(resp.Header["Upgrade"], "connect-udp") {
			return &Error{Kind: BadGateway, Err: fmt.Errorf("upstream %s switched to %q, not connect-udp", u.name, resp.Header.Get("Upgrade"))}
		}
		return nil
	case s >= 200 && s < 300, s == http.StatusNotFound, s == http.StatusMethodNotAllowed, s == http.StatusNotImplemented:
		return &targetFailure{&Error{Kind: BadGateway, NextHop: u.name, Received: s,
			Err: fmt.Errorf("upstream %s does not serve CONNECT-UDP (it answered %d)", u.name, s)}}
	}
	return u.connectAnswer(head, "UDP "+target)
}
