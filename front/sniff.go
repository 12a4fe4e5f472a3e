package front

import "sync"

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

// sniffPeek is how much of a conn's first bytes the sniff looks at (with
// netx.Peek: in the socket, nothing taken). It is the whole request head
// of most CONNECTs (curl's is about 100 bytes, a browser's 200-300),
// which the HTTP handler gets as seen and so need not peek again: one
// recvfrom(2) less per connection (issue 9).
const sniffPeek = 512

// sniffBufs holds the sniff's peek buffers: a buffer is the handler's
// seen until ServeConn returns, then back in the pool.
var sniffBufs = sync.Pool{New: func() any { return new([sniffPeek]byte) }}
