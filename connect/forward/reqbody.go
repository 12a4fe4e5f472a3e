package forward

import (
	"errors"
	"fmt"
	"github.com/ferry-proxy/ferry/tunnel"
	"io"
	"sync"
	"time"

	"github.com/ferry-proxy/ferry/internal/http1"
	"golang.org/x/net/http/httpguts"
)

// maxReplay bounds the request body kept for a replay: a request that got
// no byte of answer on a reused conn is sent again with the body it had
// sent, when that was no more than this (as net/http's GetBody allows).
const maxReplay = 64 << 10

// sentBody is a request body on its way to an origin: it keeps what it
// read, up to maxReplay, so that the request can be sent again from the
// start (rewind).
type sentBody struct {
	io.Reader
	kept    []byte // what was read, while it is within maxReplay
	over    bool   // more was read: no replay
	pos     int    // a replay hands out kept[pos:] before reading on
	readErr error  // reading from the client failed: the client's doing
}

func (b *sentBody) Read(p []byte) (int, error) {
	if b.pos < len(b.kept) {
		n := copy(p, b.kept[b.pos:])
		b.pos += n
		return n, nil
	}
	n, err := b.Reader.Read(p)
	if !b.over {
		if len(b.kept)+n <= maxReplay {
			b.kept = append(b.kept, p[:n]...)
			b.pos = len(b.kept)
		} else {
			b.over, b.kept, b.pos = true, nil, 0
		}
	}
	if err != nil && err != io.EOF {
		b.readErr = err
	}
	return n, err
}

// rewind makes the body start again, if what was sent was kept whole.
func (b *sentBody) rewind() bool {
	if b.over || b.readErr != nil {
		return false
	}
	b.pos = 0
	return true
}

// bodyWriter sends a request body to the origin on a goroutine of its
// own, so the origin can answer before the whole body (full duplex). With
// Expect: 100-continue it waits for goAhead (the origin's 100, or
// continueTimeout); abort before then means the body is never read, so
// the client is never invited to send it.
type bodyWriter struct {
	x       *exchange
	gate    chan struct{} // closed by goAhead or abort
	once    sync.Once
	aborted bool // set before gate closes; read after
	done    chan struct{}
	err     error // the writer's result, once done is closed

	mu      sync.Mutex
	reading bool // a read of the client's body is under way
	halted  bool // stop came: no read starts after it
}

// startBody starts the body's writer.
func (x *exchange) startBody() {
	if s, ok := x.body.Reader.(interface{ Sending() }); ok {
		// The front end learns the body is taken: an answer before its
		// end must close the client's connection (see connect).
		s.Sending()
	}
	w := &bodyWriter{x: x, gate: make(chan struct{}), done: make(chan struct{})}
	x.writer = w
	wait := httpguts.HeaderValuesContainsToken(x.r.Header["Expect"], "100-continue")
	if !wait {
		w.goAhead()
	}
	go w.run(wait)
}

// goAhead lets a body waiting for 100 Continue go.
func (w *bodyWriter) goAhead() { w.once.Do(func() { close(w.gate) }) }

// abort stops a body that has not started: it will not be read.
func (w *bodyWriter) abort() {
	w.once.Do(func() {
		w.aborted = true
		close(w.gate)
	})
}

// finished reports whether the writer has ended.
func (w *bodyWriter) finished() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// ErrClientGone is a client that left while its request was served (its
// body's reads say so, as the front end's conn does).
var ErrClientGone = errors.New("client went away")

// clientFault reports whether err is the client's own failure: its
// request body was malformed (400), stopped coming (408), or the client
// left. Such a failure is passed on as it is, never counted against an
// upstream: counted, any client could take the upstream out for everyone
// with one bad body.
func clientFault(err error) bool {
	k := tunnel.KindOf(err)
	return k == tunnel.BadRequest || k == tunnel.RequestTimeout || errors.Is(err, ErrClientGone)
}

// ErrBodyStopped is what a request body's Read returns once its Stop
// has cut it (a front end's body implements Stop): the exchange, not the
// client, ended it.
var ErrBodyStopped = errors.New("request body: read after the request was done with")

// stop ends the writer whatever it is doing: not started, it never
// starts; writing, it fails on the conn the caller has closed; between
// reads, it reads no more; waiting for the client's next bytes, the front
// end's body is stopped under it (it can then no longer be replayed). So
// a body not yet read, or read only as far as it was kept, can still go
// again on a fresh conn (RFC 9112 §9.3.1: the keep-alive race).
func (w *bodyWriter) stop() {
	w.abort()
	w.mu.Lock()
	w.halted = true
	cut := w.reading
	w.mu.Unlock()
	if cut {
		if s, ok := w.x.body.Reader.(interface{ Stop() }); ok {
			s.Stop()
		}
	}
	<-w.done
}

// Read is the writer's read of the request body: none starts after stop.
func (w *bodyWriter) Read(p []byte) (int, error) {
	w.mu.Lock()
	if w.halted {
		w.mu.Unlock()
		return 0, errBodyUnsent
	}
	w.reading = true
	w.mu.Unlock()
	n, err := w.x.body.Read(p)
	w.mu.Lock()
	w.reading = false
	w.mu.Unlock()
	return n, err
}

// clientFailed is the error reading the client's body gave, if that, and
// not the exchange's own stop, ended it.
func (b *sentBody) clientFailed() error {
	if b.readErr == nil || errors.Is(b.readErr, ErrBodyStopped) {
		return nil
	}
	return b.readErr
}

// errBodyUnsent is the writer's result when the body was never sent.
var errBodyUnsent = errors.New("the request body was not sent whole before the response ended")

func (w *bodyWriter) run(wait bool) {
	defer close(w.done)
	defer func() {
		// A bug here must not take the process down: the exchange fails.
		if v := recover(); v != nil {
			w.err = fmt.Errorf("request body writer: panic: %v", v)
			w.x.c.nc.Close()
		}
	}()
	if wait {
		t := time.NewTimer(continueTimeout)
		select {
		case <-w.gate:
		case <-t.C:
			w.goAhead() // no 100 in time: the body goes anyway (RFC 9110 §10.1.1)
		}
		t.Stop()
	}
	<-w.gate
	if w.aborted {
		w.err = errBodyUnsent
		return
	}
	x := w.x
	var err error
	if x.r.ContentLength >= 0 {
		err = x.copyBody(x.c.bw, io.LimitReader(w, x.r.ContentLength))
	} else {
		cw := http1.NewChunkedWriter(x.c.bw)
		if err = x.copyBody(cw, w); err == nil {
			err = cw.Close(x.r.Trailer)
		}
	}
	if err == nil {
		err = x.c.bw.Flush()
	}
	if err != nil {
		// The origin will not get the whole request: end the exchange
		// rather than wait for an answer that cannot come.
		x.c.nc.Close()
	} else {
		x.armHeadTimeout()
	}
	w.err = err
}

// copyBody copies the request body to the origin as it comes: each read
// is sent on at once, so a streamed upload streams (full duplex).
func (x *exchange) copyBody(w io.Writer, body io.Reader) error {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if x.idle > 0 {
				// An origin that stops reading the upload is cut off as
				// a stalled tunnel is.
				x.c.nc.SetWriteDeadline(time.Now().Add(x.idle))
			}
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
			if err := x.c.bw.Flush(); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}
