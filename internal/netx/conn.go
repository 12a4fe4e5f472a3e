package netx

import "net"

// Conn is a conn whose first bytes were read ahead to look at them (Peek
// on a conn that cannot be peeked in place: TLS, or off Linux): Read
// returns Peeked first, then reads the conn under it. As inetaf/tcpproxy's
// Conn, it unwraps: a relay writes Peeked on, then reads the conn under it
// directly (tunnel's relay splices it when that is a *net.TCPConn).
type Conn struct {
	net.Conn
	// Peeked holds the bytes read from Conn that Read has not returned
	// yet. Whoever takes them over (a relay) sets it to nil.
	Peeked []byte
}

// Read returns what was read ahead, then reads the conn under c.
func (c *Conn) Read(p []byte) (int, error) {
	if len(c.Peeked) == 0 {
		return c.Conn.Read(p)
	}
	n := copy(p, c.Peeked)
	c.Peeked = c.Peeked[n:]
	if len(c.Peeked) == 0 {
		c.Peeked = nil // the buffer can go
	}
	return n, nil
}

// CloseWrite half-closes the conn under c when it can (*net.TCPConn,
// *tls.Conn); otherwise it does nothing and reports no error.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
