//go:build !linux

package front

import "net"

func peekTCP(c *net.TCPConn) ([]byte, error, bool) { return nil, nil, false }
