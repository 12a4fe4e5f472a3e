package front

import (
	"bufio"
	"net"
)

// Protocol names what a listener serves.
type Protocol string

// Listener protocols.
const (
	Auto  Protocol = "auto"  // sniff the first byte
	HTTP  Protocol = "http"  // HTTP proxy only
	SOCKS Protocol = "socks" // SOCKS4/4a/5 only
)

// classify maps a first byte to a protocol: 5 or 4 is a SOCKS version, and
// no HTTP method starts with a control byte.
func classify(b byte) Protocol {
	if b == 0x05 || b == 0x04 {
		return SOCKS
	}
	return HTTP
}

// peekByte returns the first byte c will yield, without consuming it. On
// Linux a *net.TCPConn is peeked with MSG_PEEK and returned as is, so the
// relay can still splice it; anything else is wrapped in a PeekedConn.
func peekByte(c net.Conn) (byte, net.Conn, error) {
	if tc, ok := c.(*net.TCPConn); ok {
		if b, err, handled := peekTCP(tc); handled {
			return b, c, err
		}
	}
	pc, ok := c.(*PeekedConn)
	if !ok {
		pc = &PeekedConn{Conn: c, r: bufio.NewReaderSize(c, 512)}
	}
	p, err := pc.r.Peek(1)
	if err != nil {
		return 0, pc, err
	}
	return p[0], pc, nil
}

// PeekedConn is a conn whose first bytes were read ahead (a non-TCP conn,
// such as TLS); Read returns them first.
type PeekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *PeekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite half-closes the underlying conn when it can.
func (c *PeekedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
