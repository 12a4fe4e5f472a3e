package cache

import (
	"context"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

var (
	errTooLarge   = errors.New("cache: body larger than max_object_size")
	errShort      = errors.New("cache: body shorter than its Content-Length")
	errClosed     = errors.New("cache: response closed before its end")
	errFillFailed = errors.New("cache: the shared origin fetch failed midway")
)

type fillState uint8

const (
	filling fillState = iota
	filled
	failed
)

// fill is a response body on its way into the stores. The leader's tee
// writes it as the client reads; followers of a collapsed request read it
// as it grows. It keeps the body in memory while it fits the memory
// store's object limit and spools it to a temp file of the disk store, so
// a large body is never held whole in memory.
type fill struct {
	c         *Cache
	obj       *object // meta of the response; body nil
	want      int64   // Content-Length, or -1
	cancelled atomic.Bool
	flight    *flight           // the collapsed request it serves, or nil
	report    func(stored bool) // called once, when the client's copy ends
	tail      []byte            // written after the origin's body: a combined partial's stored end
	replaces  string            // a variant id to remove once this one is stored, or ""

	crc hash.Hash32 // of the spooled body; the writer's alone

	mu    sync.Mutex
	n     int64
	state fillState
	mem   bool     // buf holds body[:n]
	buf   []byte   // append-only: a reader's view of buf[:n] stays valid
	spare *[]byte  // buf's pooled backing for a body of unknown length
	file  *os.File // the spool file, open until the last hold is released
	off   int64    // where the body starts in file
	spool bool     // file holds body[:n]; false after a write error
	wake  chan struct{}
	refs  int // holds on file: the writer until its commit ends, and each reader
}

// newFill starts storing obj, whose body is expected to be want bytes
// (-1: unknown). It returns nil if no store can take it.
func (c *Cache) newFill(obj *object, want int64) *fill {
	f := &fill{c: c, obj: obj, want: want, wake: make(chan struct{}), refs: 1}
	if c.mem != nil && want <= c.memLimit {
		f.mem = true
		switch {
		case want > 0:
			f.buf = make([]byte, 0, want)
		case want < 0:
			// Unknown length: grow in a pooled buffer, copy once to the
			// exact size at the end. No follower ever reads such a fill.
			f.spare = spareBufs.Get().(*[]byte)
			f.buf = (*f.spare)[:0]
		}
	}
	if c.disk != nil {
		file, off, sum, err := c.disk.create(&obj.meta)
		if err != nil {
			c.warn("spool", err)
		} else {
			f.file, f.off, f.spool, f.crc = file, off, true, crc32.New(castagnoli)
			obj.metaCRC = sum
		}
	}
	if !f.mem && !f.spool {
		return nil
	}
	c.track(f)
	return f
}

// write appends p, read from the origin, to the body.
func (f *fill) write(p []byte) {
	f.mu.Lock()
	st, n, spool := f.state, f.n, f.spool
	f.mu.Unlock()
	if st != filling {
		return
	}
	if n+int64(len(p)) > f.c.maxObject {
		f.fail(errTooLarge)
		return
	}
	// The spool is written before n moves, so a reader never sees a
	// byte counted that is not in the file yet.
	if spool {
		if _, err := f.file.Write(p); err != nil {
			f.c.warn("spool", err)
			spool = false
		} else {
			f.crc.Write(p)
		}
	}
	f.mu.Lock()
	f.spool = spool
	f.n += int64(len(p))
	if f.mem && f.n > f.c.memLimit {
		f.mem, f.buf = false, nil
		f.putSpareLocked()
	}
	if f.mem {
		f.buf = append(f.buf, p...)
	}
	lost := !f.mem && !f.spool
	f.wakeLocked()
	f.mu.Unlock()
	if lost {
		f.fail(errTooLarge)
	}
}

// finish is the origin's end of body: check the length, then commit to
// the stores. The disk commit (fsync, rename) runs in the background so
// the client's last byte is not held up by it.
func (f *fill) finish() {
	if t := f.tail; t != nil {
		f.tail = nil
		f.write(t)
	}
	f.mu.Lock()
	if f.state != filling {
		f.mu.Unlock()
		return
	}
	if f.want >= 0 && f.n != f.want {
		f.mu.Unlock()
		f.fail(errShort)
		return
	}
	f.state = filled
	f.wakeLocked()
	n, mem, buf, spool := f.n, f.mem, f.buf, f.spool
	f.mu.Unlock()

	keep := func() bool { return !f.cancelled.Load() }
	stored := false
	if mem && f.c.mem != nil {
		if f.spare != nil {
			buf = append([]byte(nil), buf...)
		}
		o := *f.obj
		o.size, o.body = n, buf
		f.c.mem.put(&o, keep)
		stored = true
	}
	if spool {
		if _, err := f.file.Write(encodeTrailer(n, f.crc.Sum32())); err != nil {
			f.c.warn("spool", err)
			spool = false
		}
	}
	f.mu.Lock()
	if f.spare != nil {
		f.buf = nil // copied out above; no reader shares a pooled buffer
		f.putSpareLocked()
	}
	f.mu.Unlock()
	if !spool {
		if f.file != nil {
			os.Remove(f.file.Name())
		}
		f.end(stored)
		if stored {
			f.dropReplaced()
		}
		return
	}
	o := *f.obj
	o.size = n
	f.c.background(func() {
		if err := f.c.disk.commit(f.file, &o, keep); err != nil {
			f.c.warn("commit", err)
		} else {
			f.dropReplaced()
		}
		f.release()
		f.c.untrack(f)
	})
	f.reportOnce(true)
}

// dropReplaced removes the variant this one makes needless.
func (f *fill) dropReplaced() {
	if f.replaces != "" && f.replaces != f.obj.id {
		f.c.removeVariant(f.replaces)
	}
}

// fail abandons the store; readers get an error and the spool is removed.
func (f *fill) fail(error) {
	f.mu.Lock()
	if f.state != filling {
		f.mu.Unlock()
		return
	}
	f.state = failed
	f.buf = nil
	f.putSpareLocked()
	f.wakeLocked()
	f.mu.Unlock()
	if f.file != nil {
		os.Remove(f.file.Name())
	}
	f.end(false)
}

// end is the end of a fill with no disk commit to wait for.
func (f *fill) end(stored bool) {
	f.release()
	f.c.untrack(f)
	f.reportOnce(stored)
}

func (f *fill) reportOnce(stored bool) {
	if r := f.report; r != nil {
		f.report = nil
		r(stored)
	}
}

// spareBufs are the growing buffers of bodies of unknown length.
var spareBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// putSpareLocked returns the pooled buffer once buf is done with it (its
// bytes copied out, or given up).
func (f *fill) putSpareLocked() {
	if f.spare != nil {
		spareBufs.Put(f.spare)
		f.spare = nil
	}
}

func (f *fill) wakeLocked() {
	close(f.wake)
	f.wake = make(chan struct{})
}

// release drops one hold on the spool file and closes it after the last.
func (f *fill) release() {
	f.mu.Lock()
	f.refs--
	var file *os.File
	if f.refs == 0 {
		file, f.file = f.file, nil
	}
	f.mu.Unlock()
	if file != nil {
		file.Close()
	}
}

// reader returns a reader of the whole body for a follower, or nil if the
// fill has failed. Reads wait for the writer and end when ctx does.
func (f *fill) reader(ctx context.Context) io.ReadCloser {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state == failed {
		return nil
	}
	f.refs++
	return &fillReader{f: f, ctx: ctx}
}

type fillReader struct {
	f      *fill
	ctx    context.Context
	off    int64
	closed bool
}

func (r *fillReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, errClosed
	}
	f := r.f
	for {
		f.mu.Lock()
		n, st, wake, mem, buf, spool, file := f.n, f.state, f.wake, f.mem, f.buf, f.spool, f.file
		f.mu.Unlock()
		switch {
		case st == failed:
			return 0, errFillFailed
		case r.off < n && mem:
			k := copy(p, buf[r.off:n])
			r.off += int64(k)
			return k, nil
		case r.off < n && spool:
			k, err := file.ReadAt(p[:min(int64(len(p)), n-r.off)], r.off+f.off)
			r.off += int64(k)
			if err == io.EOF && k > 0 {
				err = nil
			}
			return k, err
		case r.off < n:
			return 0, errFillFailed
		case st == filled:
			return 0, io.EOF
		}
		select {
		case <-wake:
		case <-r.ctx.Done():
			return 0, context.Cause(r.ctx)
		}
	}
}

func (r *fillReader) Close() error {
	if !r.closed {
		r.closed = true
		r.f.release()
	}
	return nil
}
