package tunnel

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpRead reads with recvfrom(2) from inside the runtime's poller
// (RawConn.Read), so that it takes a buffer only once a datagram is
// there: on EAGAIN the buffer goes back to the pool and the goroutine
// waits for the socket to be readable, holding none. The source address
// is decoded from the raw sockaddr and the poller's callback is bound
// once: nothing is allocated per datagram.
type udpRead struct {
	rc   syscall.RawConn
	fn   func(fd uintptr) bool // recv, bound once
	buf  *PacketBuf            // the read under way's
	n    int
	from netip.AddrPort
	err  error
}

func (u *udpRead) init(conn *net.UDPConn) {
	u.rc, u.err = conn.SyscallConn()
	u.fn = u.recv
}

func (u *udpRead) read(conn *net.UDPConn, b *PacketBuf) (int, netip.AddrPort, error) {
	if u.rc == nil {
		b.Release()
		return 0, netip.AddrPort{}, u.err
	}
	u.buf, u.err = b, nil
	err := u.rc.Read(u.fn)
	u.buf = nil
	if err == nil {
		err = u.err
	}
	if err != nil {
		b.Release()
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Source: conn.LocalAddr(), Err: err}
	}
	return u.n, u.from, nil
}

// udpWaitHook, set by tests, is called each time a read is about to wait.
var udpWaitHook func(b *PacketBuf)

// recv is one non-blocking recvfrom; false asks the poller to wait.
func (u *udpRead) recv(fd uintptr) bool {
	p := u.buf.Bytes()[PacketHeadroom:]
	for {
		var rsa unix.RawSockaddrAny
		alen := uint32(unsafe.Sizeof(rsa))
		r, _, e := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
			syscall.MSG_DONTWAIT, uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&alen)))
		switch e {
		case 0:
			u.n, u.from = int(r), sockaddrAddrPort(&rsa)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			u.buf.Release()
			if h := udpWaitHook; h != nil {
				h(u.buf)
			}
			return false
		}
		u.err = e
		return true
	}
}

func sockaddrAddrPort(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), portOf(sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), portOf(sa.Port))
	}
	return netip.AddrPort{}
}

// portOf reads a sockaddr's port, in network byte order in memory.
func portOf(p uint16) uint16 {
	var b [2]byte
	*(*uint16)(unsafe.Pointer(&b[0])) = p
	return binary.BigEndian.Uint16(b[:])
}
