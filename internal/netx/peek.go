package netx

import (
	"io"
	"net"
)

// Peek returns the first bytes c's peer has sent without taking them:
// whoever reads the conn Peek returns gets them again. It waits, under c's
// read deadline, until enough(b) holds (nil enough: any byte at all), or
// until limit bytes have come; then b is limit bytes long and enough does
// not hold (a head too large, say: the caller decides). limit must be at
// least 1.
//
// A *net.TCPConn is peeked in the socket on Linux (peek_linux.go) and
// returned as it is, so the relay can still splice it; buf is the first
// buffer peeked into (a larger one is allocated, up to limit, only when it
// fills). Any other conn, or a TCP conn elsewhere, is read ahead into a
// *Conn (a *Conn passed in is reused, not wrapped again), which replays
// the bytes; buf is not used then, and b is valid as long as the Conn.
//
// A peer that closes before enough holds gives io.EOF when it sent
// nothing, io.ErrUnexpectedEOF when it sent part; on any error b holds
// what had come.
func Peek(c net.Conn, buf []byte, limit int, enough func([]byte) bool) ([]byte, net.Conn, error) {
	if tc, ok := c.(*net.TCPConn); ok {
		if b, err, ok := peekSocket(tc, buf, limit, enough); ok {
			return b, c, err
		}
	}
	pc, ok := c.(*Conn)
	if !ok {
		pc = &Conn{Conn: c}
	}
	b, err := pc.readAhead(limit, enough)
	return b, pc, err
}

// readAhead is Peek for conns that cannot be peeked in place: it reads
// from the conn under c into Peeked, which Read replays.
func (c *Conn) readAhead(limit int, enough func([]byte) bool) ([]byte, error) {
	var err error
	for {
		b := c.Peeked[:min(len(c.Peeked), limit)]
		switch {
		case len(b) > 0 && (enough == nil || enough(b)), len(b) == limit:
			return b, nil
		case err == io.EOF && len(b) > 0:
			return b, io.ErrUnexpectedEOF
		case err != nil:
			return b, err
		}
		b = c.Peeked
		if len(b) == cap(b) {
			nb := make([]byte, len(b), min(max(2*cap(b), 512), limit))
			copy(nb, b)
			b = nb
		}
		var n int
		n, err = c.Conn.Read(b[len(b):cap(b)])
		c.Peeked = b[:len(b)+n]
	}
}
