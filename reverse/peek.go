package reverse

import (
	"io"
	"net"

	"github.com/ferry-proxy/ferry/internal/netx"
)

// peeker looks at what a client sent without taking it (netx.Peek), so the
// bytes still reach the backend (TLS passthrough) or crypto/tls
// (termination). On Linux a *net.TCPConn is peeked in the socket and
// relayed as it is, keeping splice(2); other conns are read ahead into a
// netx.Conn that replays the bytes.
type peeker struct {
	conn net.Conn // what to read from now on
	buf  []byte   // the first buffer each peek uses
}

// maxPeek bounds every look-ahead: a ClientHello record or a PROXY header.
const maxPeek = MaxHelloPeek

func newPeeker(c net.Conn) *peeker { return &peeker{conn: c} }

// Peek returns at least n bytes (n <= maxPeek) of what the client sent,
// perhaps more, blocking under the conn's read deadline. Fewer than n come
// back only with an error (io.EOF when the client sent nothing,
// io.ErrUnexpectedEOF when it stopped sending part way).
func (p *peeker) Peek(n int) ([]byte, error) {
	if p.buf == nil {
		// Large enough for most ClientHellos at once; netx.Peek grows
		// past it up to the bound.
		p.buf = make([]byte, min(2048, maxPeek))
	}
	n = min(n, maxPeek)
	b, c, err := netx.Peek(p.conn, p.buf, maxPeek, func(b []byte) bool { return len(b) >= n })
	p.conn = c
	return b, err
}

// Discard consumes exactly n bytes that Peek has already shown: they are
// queued in the socket (or read ahead), so an exact-size read takes them
// and nothing after them.
func (p *peeker) Discard(n int) error {
	_, err := io.CopyN(io.Discard, p.conn, int64(n))
	return err
}

// Conn is the conn to serve from now on: the same *net.TCPConn when it was
// peeked in the socket, or one that first replays the bytes read ahead.
func (p *peeker) Conn() net.Conn { return p.conn }
