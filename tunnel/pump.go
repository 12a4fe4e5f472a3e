package tunnel

// pump.go: the copying path of a relay direction whose source is not a
// TCP socket (TLS, a wrapped conn, an HTTP/2 stream), and its buffers.

import (
	"io"
	"sync"
	"syscall"
)

// Copy buffers. readBufs are taken for one read of a TCP socket
// (copyFromTCP, Linux). copyPump's are held across its waits (given back
// when it parks): its source is not a TCP socket, which in ferry means
// TLS (or a wrapper of it) or an HTTP/2 stream. A TLS read returns at
// most one record's plaintext, 16 KiB (RFC 8446 §5.1). A source that
// cannot park (an HTTP/2 stream) is read into a small buffer until a read
// fills it, then into a large one until a read comes back short, so that
// it waits holding the small one; TLS records of many sizes would make
// that switch back and forth, a write each time.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

const (
	pumpSize      = 16 << 10
	pumpSmallSize = 2 << 10
)

// copyPump is the portable path (TLS, wrapped conns, HTTP/2 streams): a
// pooled buffer. A source with a socket beneath it (TLS over TCP, see
// parkWatch) parks when silent, as a spliced direction does, giving back
// its buffer and its goroutine: a TLS read that timed out left nothing
// decrypted behind (a record it has in part waits in the conn for the
// rest, which the socket then brings).
func (h *half) copyPump(dst, src Stream) (err error, parked bool) {
	in := parkWatch(src)
	if in == nil {
		h.noPark = true // nothing to watch: it waits on the read
	} else if err := h.resumed(); err != nil {
		return err, false
	}
	b := pumpBuf{fixed: in != nil, smallSize: pumpSmallSize, bigSize: pumpSize}
	u, untimed := untimedOf(src)
	if untimed {
		b.smallSize, b.bigSize = u.ReadSizes()
		h.r.watchIdle()
	}
	err, parked = h.pump(dst, src, &b, in, untimed)
	b.release() // not h's: the buffers may go back after h parked
	return err, parked
}

// pumpBuf is copyPump's buffer: small until a read fills it, large until
// one comes back short; large throughout when fixed.
type pumpBuf struct {
	fixed              bool
	smallSize, bigSize int
	small, big         *[]byte
}

// next is the buffer for the read after one that returned n bytes into
// the previous one, buf.
func (b *pumpBuf) next(buf []byte, n int) []byte {
	switch {
	case b.fixed:
		if b.big == nil {
			b.big = getBuf(b.bigSize)
		}
		return *b.big
	case b.small == nil:
		b.small = getBuf(b.smallSize)
		return *b.small
	case n == len(buf) && b.big == nil:
		b.big = getBuf(b.bigSize)
		return *b.big
	case n < len(buf) && b.big != nil:
		putBuf(b.big)
		b.big = nil
		return *b.small
	}
	return buf
}

func (b *pumpBuf) release() {
	if b.small != nil {
		putBuf(b.small)
	}
	if b.big != nil {
		putBuf(b.big)
	}
}

// pumpPools are copyPump's buffers by size: pumpSmallSize, pumpSize,
// and what UntimedReaders ask for.
var pumpPools sync.Map // int → *sync.Pool of *[]byte

func getBuf(size int) *[]byte {
	p, ok := pumpPools.Load(size)
	if !ok {
		p, _ = pumpPools.LoadOrStore(size, &sync.Pool{New: func() any { b := make([]byte, size); return &b }})
	}
	return p.(*sync.Pool).Get().(*[]byte)
}

func putBuf(b *[]byte) {
	if p, ok := pumpPools.Load(len(*b)); ok {
		p.(*sync.Pool).Put(b)
	}
}

// pump is copyPump's loop. An untimed source is read with no deadline
// (watchIdle stands for it).
func (h *half) pump(dst, src Stream, b *pumpBuf, in syscall.RawConn, untimed bool) (err error, parked bool) {
	if !untimed {
		if err := h.arm(src); err != nil {
			return err, false
		}
	}
	buf := b.next(nil, 0)
	for {
		nr, er := src.Read(buf)
		if nr > 0 {
			h.touch()
			if ew := h.write(dst, buf[:nr]); ew != nil {
				return ew, false
			}
			h.touch()
			buf = b.next(buf, nr)
		}
		if er == io.EOF {
			return nil, false
		}
		if er != nil {
			er = h.rearm(src, er)
			if er == errPark {
				if h.parkIt(in) {
					return nil, true
				}
				er = h.neverPark(src)
			}
			if er != nil {
				return er, false
			}
		}
	}
}

// untimedOf is the UntimedReader c reads, under the relay's wrappers.
func untimedOf(c Stream) (UntimedReader, bool) {
	for {
		switch cc := c.(type) {
		case UntimedReader:
			return cc, true
		case *countedConn:
			c = cc.Conn
		case *limitedConn:
			c = cc.Conn
		default:
			return nil, false
		}
	}
}
