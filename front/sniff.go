package front

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"sync"
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
// relay can still splice it, with a copy of the bytes seen when they look
// like HTTP (see peekTCP; SOCKS handlers read their own); anything else is
// wrapped in a PeekedConn, and seen is nil.
func peekByte(c net.Conn) (byte, net.Conn, []byte, error) {
	if tc, ok := c.(*net.TCPConn); ok {
		bp := sniffBufs.Get().(*[sniffPeek]byte)
		defer sniffBufs.Put(bp)
		if seen, err, handled := peekTCP(tc, bp[:]); handled {
			if err != nil {
				return 0, c, nil, err
			}
			if classify(seen[0]) != HTTP {
				return seen[0], c, nil, nil
			}
			return seen[0], c, bytes.Clone(seen), nil
		}
	}
	pc, ok := c.(*PeekedConn)
	if !ok {
		pc = &PeekedConn{Conn: c, r: bufio.NewReaderSize(c, 512)}
	}
	p, err := pc.r.Peek(1)
	if err != nil {
		return 0, pc, nil, err
	}
	return p[0], pc, nil, nil
}

// sniffPeek is how much of a TCP conn's first bytes the sniff looks at:
// the whole request head of most CONNECTs (curl's is about 100 bytes, a
// browser's 200-300).
const sniffPeek = 512

var sniffBufs = sync.Pool{New: func() any { return new([sniffPeek]byte) }}

type seenKey struct{}

// seenBox holds the sniffed bytes until the handler takes them, so that
// a tunnel's context, which lives as long as the tunnel, does not keep
// them.
type seenBox struct{ b []byte }

// TakeSeen returns the first bytes of the conn served under ctx, as the
// sniff peeked them (still in the socket), once; later calls and conns
// not sniffed get nil. They are what had arrived at that moment: possibly
// less than the client sent. Only the conn's handler may call it.
func TakeSeen(ctx context.Context) []byte {
	box, _ := ctx.Value(seenKey{}).(*seenBox)
	if box == nil {
		return nil
	}
	b := box.b
	box.b = nil
	return b
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
