package reverse

import (
	"bufio"
	"io"
	"net"
)

// peeker looks at what a client sent without taking it, so the bytes still
// reach the backend (TLS passthrough) or crypto/tls (termination). On Linux
// a *net.TCPConn is peeked with MSG_PEEK and relayed as it is, keeping
// splice(2); other conns are read into a buffer that Conn replays.
type peeker struct {
	conn net.Conn
	tcp  *net.TCPConn // MSG_PEEK path; nil when buffered
	buf  []byte       // MSG_PEEK scratch, grown up to the bound
	br   *bufio.Reader
}

// maxPeek bounds every look-ahead: a ClientHello record or a PROXY header.
const maxPeek = MaxHelloPeek

func newPeeker(c net.Conn) *peeker {
	if tc, ok := c.(*net.TCPConn); ok && canPeekTCP {
		return &peeker{conn: c, tcp: tc}
	}
	return &peeker{conn: c, br: bufio.NewReaderSize(c, maxPeek)}
}

// Peek returns at least n bytes (n <= maxPeek) of what the client sent,
// perhaps more, blocking under the conn's read deadline. Fewer than n come
// back only with an error (io.EOF when the client stopped sending).
func (p *peeker) Peek(n int) ([]byte, error) {
	if n > maxPeek {
		n = maxPeek
	}
	if p.tcp == nil {
		b, err := p.br.Peek(n)
		if err == bufio.ErrBufferFull {
			err = nil
		}
		return b, err
	}
	if cap(p.buf) < n {
		// Grow to a useful size at once: small for a PROXY header, the
		// bound for a ClientHello.
		p.buf = make([]byte, max(n, min(2048, maxPeek)))
	}
	got, err := peekTCP(p.tcp, p.buf[:cap(p.buf)], n)
	return p.buf[:got], err
}

// Discard consumes exactly n bytes that Peek has already shown.
func (p *peeker) Discard(n int) error {
	if p.tcp == nil {
		_, err := p.br.Discard(n)
		return err
	}
	// The bytes are queued in the socket: an exact-size read takes them
	// and nothing after them.
	_, err := io.ReadFull(p.tcp, p.buf[:n])
	return err
}

// Conn is the conn to serve from now on: the same *net.TCPConn on the
// MSG_PEEK path, or one that first replays the buffered bytes.
func (p *peeker) Conn() net.Conn {
	if p.tcp != nil {
		return p.tcp
	}
	return &bufferedConn{Conn: p.conn, r: p.br}
}

// bufferedConn is a conn whose first bytes were read ahead.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// CloseWrite half-closes the underlying conn when it can.
func (c *bufferedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
