package netx

import (
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// crypto/tls sends each record of a Write with a write(2) of its own: an
// HTTP/2 DATA frame of 16 KiB and its 9-byte header is two records, two
// system calls and, on the other side, two wakeups. Batching sends the
// records of one Write together: RecordBatcher sits under the tls.Conn and
// gathers what it writes while a BatchedTLS Write is under way, which then
// sends it all at once. x/net's HTTP/2 buffers its frames and writes them
// in large pieces, so each of its writes becomes one system call.

// RecordBatcher is the conn under a tls.Conn whose records BatchedTLS
// batches. Outside a batch it passes writes through.
type RecordBatcher struct {
	net.Conn
	mu      sync.Mutex // guards batching and buf, and orders the writes
	batched bool
	buf     []byte  // the batch
	bp      *[]byte // its pooled slice
}

// NewRecordBatcher returns c wrapped to go under a tls.Conn.
func NewRecordBatcher(c net.Conn) *RecordBatcher { return &RecordBatcher{Conn: c} }

// NetConn returns the conn under b (peek and splice look through it).
func (b *RecordBatcher) NetConn() net.Conn { return b.Conn }

// Write gathers p in a batch, or else writes it.
func (b *RecordBatcher) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.batched {
		b.buf = append(b.buf, p...)
		return len(p), nil
	}
	return b.Conn.Write(p)
}

// begin starts a batch, in a pooled buffer.
func (b *RecordBatcher) begin() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batched = true
	if b.buf == nil {
		b.bp = batchBufs.Get().(*[]byte)
		b.buf = (*b.bp)[:0]
	}
}

// end writes the batch. The buffer goes back to the pool: a connection
// idle between writes holds none.
func (b *RecordBatcher) end() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batched = false
	var err error
	if len(b.buf) > 0 {
		_, err = b.Conn.Write(b.buf)
	}
	// Larger buffers (a write of several MiB) are left to the collector.
	if cap(b.buf) <= maxPooledBatch {
		*b.bp = b.buf[:0]
		batchBufs.Put(b.bp)
	}
	b.buf, b.bp = nil, nil
	return err
}

// maxPooledBatch bounds the buffers kept for reuse.
const maxPooledBatch = 1 << 20

var batchBufs = sync.Pool{New: func() any { return new([]byte) }}

// BatchedTLS is a tls.Conn over a RecordBatcher whose Writes each go out
// in one system call, all their records together.
type BatchedTLS struct {
	*tls.Conn
	b  *RecordBatcher
	mu sync.Mutex // one batched Write at a time
}

// NewBatchedTLS returns tc, made over b, with batched Writes.
func NewBatchedTLS(tc *tls.Conn, b *RecordBatcher) *BatchedTLS {
	return &BatchedTLS{Conn: tc, b: b}
}

// Write encrypts p and sends its records at once. A failed send fails the
// Write: the TLS stream cannot go on after it anyway.
func (c *BatchedTLS) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.b.begin()
	n, err := c.Conn.Write(p)
	if ferr := c.b.end(); err == nil && ferr != nil {
		return 0, ferr
	}
	return n, err
}

// closeGrace is how long Close waits for the close_notify alert to go
// out before it closes the conn under it (as x/net does with a
// tls.Conn: a peer that does not read would hold Close for seconds).
const closeGrace = 250 * time.Millisecond

// Close sends close_notify and closes the conn.
func (c *BatchedTLS) Close() error {
	t := time.AfterFunc(closeGrace, func() { c.b.Conn.Close() })
	defer t.Stop()
	return c.Conn.Close()
}
