package netx

import (
	"io"
	"net"
	"time"
)

// The lingering close's bound: after the half-close, what the peer still
// sends is read and dropped for at most LingerTime, up to LingerBytes,
// before the socket is closed. A client that has read the answer closes at
// once (EOF). The byte bound lets an upload that was answered early (a
// refusal, a 413) keep arriving while the client reads the answer; the
// time bound holds a client that neither closes nor stops for no longer
// than two seconds of a goroutine and a connection slot.
const (
	LingerTime  = 2 * time.Second
	LingerBytes = 64 << 20
)

// LingerClose ends a connection whose input was not all read (a refusal
// sent before the request was, a peeked ClientHello) with a FIN, not a
// reset. Closing a socket with unread bytes makes the kernel send a
// reset, which can destroy the answer just written before the peer reads
// it (RFC 9112 §9.6). So: half-close, discard what the peer still sends
// within the bound above, then close (nginx's lingering_close). A conn
// that cannot half-close is closed at once.
func LingerClose(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		c.SetReadDeadline(time.Now().Add(LingerTime))
		io.CopyN(io.Discard, c, LingerBytes)
	}
	c.Close()
}
