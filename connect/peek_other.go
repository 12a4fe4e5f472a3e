//go:build !linux

package connect

import "net"

// peekHead needs MSG_PEEK through the runtime poller; elsewhere every
// connection goes to the HTTP/1 reader.
func peekHead(c *net.TCPConn, buf []byte, limit int) (b []byte, scan headScan, n int, err error, handled bool) {
	return nil, 0, 0, nil, false
}

// discardQueued is not needed where peekHead is not: the HTTP/1 reader reads.
func discardQueued(c *net.TCPConn) {}
