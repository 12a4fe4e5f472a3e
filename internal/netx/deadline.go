package netx

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DeadlineReader gives a reader that has no deadlines of its own (an
// HTTP/2 stream's body) the read deadlines of a net.Conn: a deadline
// that passes fails the Read blocked on it with os.ErrDeadlineExceeded,
// and a later deadline lets reading go on, nothing lost. The relay needs
// exactly that: a direction silent past the idle timeout while the other
// one is busy is given more time, not ended (tunnel.Stream). HTTP/2's own
// stream deadlines (x/net) end the stream when they fire, so they cannot
// serve.
//
// The source is read on a goroutine of its own, started by the first
// Read, into a buffer of its own; what it read is handed over through a
// net.Pipe, whose deadlines are the net.Conn ones. The goroutine ends
// when the source fails or ends, or when the reader is closed and its
// next read returns: closing the source is the owner's job (closing the
// stream under it).
type DeadlineReader struct {
	src     io.Reader
	size    int      // bytes read at a time from a slow source
	bigSize int      // and from a busy one
	r, w    net.Conn // net.Pipe: r is read by Read, w written by pump
	start   sync.Once
	srcErr  atomic.Pointer[error] // the source's failure, set before w closes
}

// NewDeadlineReader returns a DeadlineReader of src, whose goroutine
// reads size bytes at a time, and up to bigSize while the source keeps
// filling its buffer.
func NewDeadlineReader(src io.Reader, size, bigSize int) *DeadlineReader {
	r, w := net.Pipe()
	return &DeadlineReader{src: src, size: size, bigSize: bigSize, r: r, w: w}
}

// Read reads what the source gave, under the read deadline. After the
// source's end it returns io.EOF, or the error with which it failed.
func (d *DeadlineReader) Read(p []byte) (int, error) {
	d.start.Do(func() { go d.pump() })
	n, err := d.r.Read(p)
	if err == io.EOF {
		if e := d.srcErr.Load(); e != nil {
			err = *e
		}
	}
	return n, err
}

// SetReadDeadline sets the deadline of Reads, as net.Conn's does.
func (d *DeadlineReader) SetReadDeadline(t time.Time) error { return d.r.SetReadDeadline(t) }

// Close makes Reads fail and lets the goroutine end after its current
// read of the source.
func (d *DeadlineReader) Close() error {
	d.w.Close()
	return d.r.Close()
}

// pumpBufs hold the pump's small buffers, bigBufs its large ones.
var pumpBufs, bigBufs sync.Pool // of *[]byte

// getBuf takes a buffer of size bytes from pool.
func getBuf(pool *sync.Pool, size int) *[]byte {
	bp, _ := pool.Get().(*[]byte)
	if bp == nil || cap(*bp) < size {
		b := make([]byte, size)
		bp = &b
	}
	*bp = (*bp)[:size]
	return bp
}

// pump copies the source into the pipe until either ends. It reads size
// bytes at a time while the source is slow; a read that fills the buffer
// says more is waiting, and the next reads take up to bigSize, until one
// comes back short. Fewer, larger reads of an HTTP/2 body mean fewer
// WINDOW_UPDATE frames and handoffs; a stream that idles waits with the
// small buffer, unless it went quiet just as a large read filled up.
func (d *DeadlineReader) pump() {
	small := getBuf(&pumpBufs, d.size)
	defer pumpBufs.Put(small)
	var big *[]byte
	defer func() {
		if big != nil {
			bigBufs.Put(big)
		}
	}()
	buf := *small
	for {
		n, err := d.src.Read(buf)
		if n > 0 {
			if _, werr := d.w.Write(buf[:n]); werr != nil {
				return // closed
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				d.srcErr.Store(&err)
			}
			d.w.Close()
			return
		}
		switch {
		case n == len(buf) && d.bigSize > d.size:
			if big == nil {
				big = getBuf(&bigBufs, d.bigSize)
			}
			buf = *big
		case n < len(buf) && big != nil:
			bigBufs.Put(big)
			big, buf = nil, *small
		}
	}
}
