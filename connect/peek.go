package connect

import (
	"net"

	"github.com/ferry-proxy/ferry/internal/netx"
)

// peekHead looks at c's first request head with netx.Peek (in the socket,
// taking nothing, on Linux) until scanHead can tell what it is, or limit
// bytes are there without an end of head: then scan is headIncomplete and
// b is limit bytes long. n is the head's length for a complete head. conn
// is the conn to read from now on (c, or c with the bytes read ahead off
// Linux). buf is the first buffer to peek into; a larger one is allocated
// only when it fills up.
func peekHead(c net.Conn, buf []byte, limit int) (b []byte, scan headScan, n int, conn net.Conn, err error) {
	b, conn, err = netx.Peek(c, buf, limit, headDecided)
	scan, n = scanHead(b)
	return b, scan, n, conn, err
}

// headDecided reports whether b, the start of a request, says what it is.
func headDecided(b []byte) bool {
	scan, _ := scanHead(b)
	return scan != headIncomplete
}
