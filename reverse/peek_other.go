//go:build !linux

package reverse

import "net"

// Off Linux there is no MSG_PEEK through the poller here: conns are
// buffered (and so relayed by copy, not splice).
const canPeekTCP = false

func peekTCP(c *net.TCPConn, buf []byte, n int) (int, error) { panic("unreachable") }
