//go:build !linux

package netx

import "net"

// peekSocket needs MSG_PEEK through the runtime poller, which only the
// Linux build has: elsewhere Peek reads ahead into a Conn (the relay
// copies, as it does off Linux anyway).
func peekSocket(c *net.TCPConn, buf []byte, limit int, enough func([]byte) bool) ([]byte, error, bool) {
	return nil, nil, false
}

// DiscardQueued does nothing off Linux, where no front end peeks in the
// socket: what a conn's reader gave up on was read, not left queued.
func DiscardQueued(c net.Conn) {}

// Quiet cannot peek without waiting off Linux: an idle conn is taken as
// quiet, and a request that finds it closed is sent again when it may be.
func Quiet(c net.Conn) bool { return true }
