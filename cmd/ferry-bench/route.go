package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// via says how a tunnel reaches an origin.
type via int

const (
	viaDirect  via = iota // the client dials the origin itself: the baseline
	viaCONNECT            // HTTP CONNECT (RFC 9110 §9.3.6)
	viaSOCKS5             // SOCKS5 CONNECT, no auth (RFC 1928)
	viaTCP                // a plain TCP forwarder bound to the origin: no handshake
)

func (v via) String() string {
	switch v {
	case viaDirect:
		return "direct"
	case viaCONNECT:
		return "CONNECT"
	case viaSOCKS5:
		return "SOCKS5"
	case viaTCP:
		return "TCP"
	}
	return "via(" + strconv.Itoa(int(v)) + ")"
}

// dialTimeout bounds a connect and, as a conn deadline, each whole tunnel
// operation, so a proxy that stalls costs errors, not a hung run.
const dialTimeout = 5 * time.Second

// route is a prepared way to open tunnels to one origin: the address to
// dial and the handshake bytes, built once so opening allocates nothing of
// ours.
type route struct {
	via  via
	addr string // what is dialed: the origin (direct) or the proxy
	req  []byte // CONNECT request, or the SOCKS5 request after the greeting
	dial net.Dialer
}

// socks5Greeting offers one method: 0x00, no authentication (RFC 1928 §3).
var socks5Greeting = []byte{5, 1, 0}

// newRoute prepares tunnels to origin via v; proxy is ignored for direct.
func newRoute(v via, proxy string, origin netip.AddrPort) *route {
	r := &route{via: v, addr: proxy, dial: net.Dialer{Timeout: dialTimeout, KeepAlive: -1}}
	switch v {
	case viaDirect:
		r.addr = origin.String()
	case viaCONNECT:
		t := origin.String()
		r.req = []byte("CONNECT " + t + " HTTP/1.1\r\nHost: " + t + "\r\n\r\n")
	case viaSOCKS5:
		ip := origin.Addr().As4()
		p := origin.Port()
		// VER CMD=CONNECT RSV ATYP=IPv4 DST.ADDR DST.PORT (RFC 1928 §4).
		r.req = []byte{5, 1, 0, 1, ip[0], ip[1], ip[2], ip[3], byte(p >> 8), byte(p)}
	}
	return r
}

// replyBuf is the scratch buffer for a handshake: room for a proxy's
// refusal head (squid's 403 carries a dozen headers) and more.
const replyBuf = 4 << 10

// open dials and completes the handshake, using buf (replyBuf bytes) as
// scratch. Tunnel bytes that arrived with the proxy's reply are left in
// buf[:extra]. The conn has a deadline dialTimeout from now; callers that
// keep it longer move or clear it.
func (r *route) open(buf []byte) (c *net.TCPConn, extra int, err error) {
	nc, err := r.dial.Dial("tcp", r.addr)
	if err != nil {
		return nil, 0, err
	}
	c = nc.(*net.TCPConn)
	c.SetDeadline(time.Now().Add(dialTimeout))
	switch r.via {
	case viaCONNECT:
		extra, err = r.connect(c, buf)
	case viaSOCKS5:
		err = r.socks5(c, buf)
	}
	if err != nil {
		c.Close()
		return nil, 0, err
	}
	return c, extra, nil
}

var (
	errHeadTooBig = errors.New("proxy reply head larger than the buffer")
	errBadReply   = errors.New("malformed proxy reply")
)

func (r *route) connect(c *net.TCPConn, buf []byte) (int, error) {
	if _, err := c.Write(r.req); err != nil {
		return 0, err
	}
	n := 0
	for {
		m, err := c.Read(buf[n:])
		n += m
		if head, status, perr := parseConnectReply(buf[:n]); perr != nil {
			return 0, perr
		} else if head > 0 {
			if status/100 != 2 {
				return 0, fmt.Errorf("CONNECT answered %d", status)
			}
			return copy(buf, buf[head:n]), nil
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if n == len(buf) {
			return 0, errHeadTooBig
		}
	}
}

var headEnd = []byte("\r\n\r\n")

// parseConnectReply looks for a complete response head in b. It returns the
// head's length (0: not complete yet) and its status code.
func parseConnectReply(b []byte) (head, status int, err error) {
	i := bytes.Index(b, headEnd)
	if i < 0 {
		return 0, 0, nil
	}
	status, err = parseStatusLine(b[:i+2])
	return i + 4, status, err
}

// parseStatusLine reads the code of "HTTP/1.x NNN reason\r\n…".
func parseStatusLine(b []byte) (int, error) {
	if len(b) < 12 || !bytes.HasPrefix(b, []byte("HTTP/1.")) || b[8] != ' ' {
		return 0, errBadReply
	}
	code := 0
	for _, d := range b[9:12] {
		if d < '0' || d > '9' {
			return 0, errBadReply
		}
		code = code*10 + int(d-'0')
	}
	if code < 100 {
		return 0, errBadReply
	}
	return code, nil
}

func (r *route) socks5(c *net.TCPConn, buf []byte) error {
	if _, err := c.Write(socks5Greeting); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, buf[:2]); err != nil {
		return err
	}
	if buf[0] != 5 || buf[1] != 0 {
		return fmt.Errorf("SOCKS5 method reply %d %d, want 5 0", buf[0], buf[1])
	}
	if _, err := c.Write(r.req); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, buf[:4]); err != nil {
		return err
	}
	rest, err := socks5ReplyRest(buf[:4])
	if err != nil {
		return err
	}
	if rest == 0 { // domain name: one length byte first
		if _, err := io.ReadFull(c, buf[4:5]); err != nil {
			return err
		}
		rest = int(buf[4]) + 2
	}
	_, err = io.ReadFull(c, buf[:rest])
	return err
}

// socks5ReplyRest checks a SOCKS5 reply's first four bytes (VER REP RSV
// ATYP, RFC 1928 §6) and returns how many bytes of BND.ADDR and BND.PORT
// follow; 0 means a domain name, whose length byte comes next.
func socks5ReplyRest(h []byte) (int, error) {
	if len(h) < 4 || h[0] != 5 {
		return 0, errBadReply
	}
	if h[1] != 0 {
		return 0, fmt.Errorf("SOCKS5 reply %#02x", h[1])
	}
	switch h[3] {
	case 1:
		return 4 + 2, nil
	case 4:
		return 16 + 2, nil
	case 3:
		return 0, nil
	}
	return 0, errBadReply
}
