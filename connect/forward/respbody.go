package forward

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/ferry-proxy/ferry/internal/http1"
	"github.com/ferry-proxy/ferry/tunnel"
)

// responseBody is a response's body: read to its end it gives the conn
// back to the pool (when the framing was clean and nothing follows it),
// closed before that it closes the conn.
type responseBody struct {
	x     *exchange
	p     *pool
	body  *http1.Body
	stop  func() bool // stops the context's cancel
	reuse bool
	done  bool
}

func (b *responseBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	b.x.armRead()
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.release(true)
	} else if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && b.x.idle > 0 && !b.x.isCanceled() {
		err = tunnel.ErrIdle // the origin stopped sending for idle_timeout
	}
	return n, err
}

// Trailer is the response's trailer section, after the body's end.
func (b *responseBody) Trailer() http.Header { return b.body.Trailer() }

func (b *responseBody) Close() error {
	if !b.done {
		b.release(false)
	}
	return nil
}

// release ends the exchange: the conn goes back to the pool only if the
// whole response was read, its framing was clean, no byte follows it, and
// the request body was sent whole.
func (b *responseBody) release(complete bool) {
	b.done = true
	x := b.x
	canceled := !b.stop()
	reuse := complete && b.reuse && !canceled && x.c.br.Buffered() == 0
	if x.writer != nil && (!x.writer.finished() || x.writer.err != nil) {
		// An origin that answered before reading the whole body (RFC
		// 9110 §15.5.14, say) leaves the conn unusable; the writer ends
		// once the conn is closed.
		reuse = false
	}
	if !reuse {
		x.c.nc.Close()
		return
	}
	b.p.put(x.c)
}

// Upgraded is the Body of a 101 response: the conn, switched to the new
// protocol, and what the origin sent after the 101's head. Relayed by the
// engine (tunnel.Start), spliced when the conn is a TCP socket.
type Upgraded struct {
	Conn     net.Conn
	Buffered []byte
}

func (u *Upgraded) Read(p []byte) (int, error) { return 0, io.EOF }

// Close closes the conn: whoever does not relay it must not leak it.
func (u *Upgraded) Close() error { return u.Conn.Close() }

// buffered takes what br has read ahead.
func buffered(br *bufio.Reader) []byte {
	n := br.Buffered()
	if n == 0 {
		return nil
	}
	b, _ := br.Peek(n)
	return append([]byte(nil), b...)
}
