package tunnel

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpRead reads with recvmmsg(2) from inside the runtime's poller
// (RawConn.Read), so that it takes buffers only once datagrams are there:
// on EAGAIN they go back to the pool and the goroutine waits for the
// socket to be readable, holding none. One call reads as many datagrams
// as are waiting, up to the batch size, which grows while calls come back
// full (a window of datagrams in flight) and falls back to two when they
// do not (one at a time): the datagrams past the first wait in the batch
// and are handed out by the next reads without a system call. Sources
// are decoded from the raw sockaddrs and the poller's callback is bound
// once: nothing is allocated per datagram.
type udpRead struct {
	rc    syscall.RawConn
	fn    func(fd uintptr) bool // recv, bound once
	buf   *PacketBuf            // the read under way's
	batch *udpBatch             // datagrams read and not handed out yet; nil when none
	size  int                   // datagrams the next call asks for
	n     int
	from  netip.AddrPort
	err   error
}

// maxUDPBatch is the most datagrams one recvmmsg reads.
const maxUDPBatch = 16

// udpBatch is one recvmmsg's state: headers, buffers, sources. Pooled: a
// reader holds one only while it has datagrams to hand out.
type udpBatch struct {
	hdrs  [maxUDPBatch]unix.Mmsghdr
	iovs  [maxUDPBatch]unix.Iovec
	addrs [maxUDPBatch]unix.RawSockaddrInet6 // room for an IPv4 one too
	bufs  [maxUDPBatch]*[packetBufSize]byte
	n     int // datagrams read
	next  int // the next to hand out
}

var udpBatches = sync.Pool{New: func() any { return new(udpBatch) }}

func (u *udpRead) init(conn *net.UDPConn) {
	u.rc, u.err = conn.SyscallConn()
	u.fn = u.recv
	u.size = 2
}

func (u *udpRead) read(conn *net.UDPConn, b *PacketBuf) (int, netip.AddrPort, error) {
	if bt := u.batch; bt != nil {
		return u.next(bt, b)
	}
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

// next hands out the batch's next datagram in b (their buffers trade
// places).
func (u *udpRead) next(bt *udpBatch, b *PacketBuf) (int, netip.AddrPort, error) {
	i := bt.next
	bt.next++
	b.Release()
	b.p, bt.bufs[i] = bt.bufs[i], nil
	n, from := int(bt.hdrs[i].Len), sockaddrAddrPort(&bt.addrs[i])
	if bt.next == bt.n {
		u.batch = nil
		udpBatches.Put(bt)
	}
	return n, from, nil
}

// release gives back the datagrams not handed out (the reader is done).
func (u *udpRead) release() {
	if bt := u.batch; bt != nil {
		for i := bt.next; i < bt.n; i++ {
			packetBufs.Put(bt.bufs[i])
			bt.bufs[i] = nil
		}
		u.batch = nil
		udpBatches.Put(bt)
	}
}

// udpWaitHook, set by tests, is called each time a read is about to wait.
var udpWaitHook func(b *PacketBuf)

// recv is one non-blocking recvmmsg; false asks the poller to wait.
func (u *udpRead) recv(fd uintptr) bool {
	bt := udpBatches.Get().(*udpBatch)
	k := u.size
	for i := range k {
		var p *[packetBufSize]byte
		if i == 0 {
			u.buf.Bytes()
			p = u.buf.p
		} else {
			p = packetBufs.Get().(*[packetBufSize]byte)
		}
		bt.bufs[i] = p
		bt.iovs[i].Base = &p[PacketHeadroom]
		bt.iovs[i].SetLen(packetBufSize - PacketHeadroom)
		h := &bt.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&bt.addrs[i]))
		h.Namelen = uint32(unsafe.Sizeof(bt.addrs[i]))
		h.Iov = &bt.iovs[i]
		h.SetIovlen(1)
		h.Control, h.Controllen, h.Flags = nil, 0, 0
	}
	var r uintptr
	var e syscall.Errno
	for {
		r, _, e = syscall.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&bt.hdrs[0])), uintptr(k),
			syscall.MSG_DONTWAIT, 0, 0)
		if e != syscall.EINTR {
			break
		}
	}
	m := int(r)
	if e != 0 {
		m = 0
	}
	bt.bufs[0] = nil // the read's own, in u.buf
	for i := max(m, 1); i < k; i++ {
		packetBufs.Put(bt.bufs[i])
		bt.bufs[i] = nil
	}
	switch {
	case e == syscall.EAGAIN:
		udpBatches.Put(bt)
		u.buf.Release()
		u.size = 2
		if h := udpWaitHook; h != nil {
			h(u.buf)
		}
		return false
	case e != 0:
		udpBatches.Put(bt)
		u.err = e
		return true
	}
	u.n, u.from = int(bt.hdrs[0].Len), sockaddrAddrPort(&bt.addrs[0])
	if m == k {
		u.size = min(2*k, maxUDPBatch)
	} else {
		u.size = 2
	}
	if m > 1 {
		bt.n, bt.next = m, 1
		u.batch = bt
	} else {
		udpBatches.Put(bt)
	}
	return true
}

func sockaddrAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), portOf(sa4.Port))
	case unix.AF_INET6:
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
