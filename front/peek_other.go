//go:build !linux

package front

import "net"

func peekTCP(c *net.TCPConn, buf []byte) ([]byte, error, bool) { return nil, nil, false }
