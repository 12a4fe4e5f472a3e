package forward

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// quietSocket reports whether an idle conn's socket has nothing to say:
// no byte and no FIN queued. It peeks without waiting (MSG_DONTWAIT) on
// the socket under any wrapping (TLS, an upstream's counting conn); a
// deadline in the past would not do, as the runtime answers it without
// asking the socket. Anything queued on an idle conn, even a TLS record,
// makes it unusable for the next request.
func quietSocket(nc net.Conn) bool {
	for {
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		nc = u.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	quiet := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		quiet = err == unix.EAGAIN
		return true
	})
	return err == nil && quiet
}
