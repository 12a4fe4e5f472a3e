//go:build !linux

package tunnel

import "net"

// readHead reads an HTTP response head from c; off Linux through a buffer.
func readHead(c net.Conn, limit int) ([]byte, net.Conn, error) { return readHeadBuffered(c, limit) }
