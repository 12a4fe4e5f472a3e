package forward

import (
	"bufio"
	"net"
	"sync"
	"time"

	"github.com/ferry-proxy/ferry/internal/netx"
)

// conn is one outbound connection: to an origin, to an HTTP upstream
// (requests go in absolute form), or to an origin through a SOCKS
// upstream. It is the bufio.Reader's source, so that a response head can
// be bounded and a response that never started told from one cut short.
type conn struct {
	nc     net.Conn
	key    string // the pool's key: where requests on it go
	br     *bufio.Reader
	bw     *bufio.Writer
	limit  int64 // bytes the response head may still take; < 0: no limit
	read   int64 // bytes read since the request was written
	idleAt time.Time
	reused bool // it served a request before this one
}

func newConn(nc net.Conn, key string) *conn {
	c := &conn{nc: nc, key: key, limit: -1}
	c.br = bufio.NewReaderSize(c, 4<<10)
	c.bw = bufio.NewWriterSize(nc, 4<<10)
	return c
}

func (c *conn) Read(p []byte) (int, error) {
	if c.limit == 0 {
		return 0, errResponseHeadTooLarge
	}
	if c.limit > 0 && int64(len(p)) > c.limit {
		p = p[:c.limit]
	}
	n, err := c.nc.Read(p)
	c.read += int64(n)
	if c.limit > 0 {
		c.limit -= int64(n)
	}
	return n, err
}

// quiet reports whether an idle conn has nothing to say: no byte and no
// close from the peer since its last response. A conn the origin closed
// while it idled, or on which it sent bytes nobody asked for (the rest of
// a mis-framed response), must not carry the next request.
func (c *conn) quiet() bool {
	return c.br.Buffered() == 0 && netx.Quiet(c.nc)
}

// pool keeps idle conns by key, the most recently used last, bounded in
// all and per key; a conn idle longer than idleTimeout is closed.
type pool struct {
	maxIdle       int
	maxIdlePerKey int
	idleTimeout   time.Duration
	mu            sync.Mutex
	idle          map[string][]*conn
	n             int
	sweep         *time.Timer // closes conns idle too long; nil when none idle
	closed        bool
}

// get returns an idle conn to key that is still quiet, or nil.
func (p *pool) get(key string) *conn {
	var stale []*conn
	defer func() {
		for _, c := range stale {
			c.nc.Close()
		}
	}()
	for {
		p.mu.Lock()
		list := p.idle[key]
		if len(list) == 0 {
			p.mu.Unlock()
			return nil
		}
		c := list[len(list)-1]
		list[len(list)-1] = nil
		if list = list[:len(list)-1]; len(list) == 0 {
			delete(p.idle, key)
		} else {
			p.idle[key] = list
		}
		p.n--
		p.mu.Unlock()
		if p.idleTimeout > 0 && time.Since(c.idleAt) > p.idleTimeout || !c.quiet() {
			stale = append(stale, c)
			continue
		}
		c.reused = true
		return c
	}
}

// put keeps c for the next request to its key, or closes it when the
// pool is full or closed. The deadlines the last exchange left (the
// body's idle bounds) are dropped: past by the time the conn is reused,
// they would fail the next request before a byte of it went out.
func (p *pool) put(c *conn) {
	c.idleAt = time.Now()
	c.nc.SetDeadline(time.Time{})
	p.mu.Lock()
	if p.closed || p.n >= p.maxIdle || len(p.idle[c.key]) >= p.maxIdlePerKey {
		p.mu.Unlock()
		c.nc.Close()
		return
	}
	if p.idle == nil {
		p.idle = make(map[string][]*conn)
	}
	p.idle[c.key] = append(p.idle[c.key], c)
	p.n++
	if p.sweep == nil && p.idleTimeout > 0 {
		p.sweep = time.AfterFunc(p.idleTimeout, p.closeExpired)
	}
	p.mu.Unlock()
}

// closeExpired closes the conns idle longer than idleTimeout and runs
// again while any stay pooled.
func (p *pool) closeExpired() {
	var expired []*conn
	p.mu.Lock()
	now := time.Now()
	next := p.idleTimeout
	for key, list := range p.idle {
		kept := list[:0]
		for _, c := range list {
			if age := now.Sub(c.idleAt); age >= p.idleTimeout {
				expired = append(expired, c)
			} else {
				kept = append(kept, c)
				next = min(next, p.idleTimeout-age)
			}
		}
		clear(list[len(kept):])
		if len(kept) == 0 {
			delete(p.idle, key)
		} else {
			p.idle[key] = kept
		}
	}
	p.n -= len(expired)
	if p.n > 0 && p.sweep != nil {
		p.sweep.Reset(next)
	} else {
		p.sweep = nil
	}
	p.mu.Unlock()
	for _, c := range expired {
		c.nc.Close()
	}
}

// closeIdle closes every pooled conn; with done set, later puts close
// their conn too (shutdown).
func (p *pool) closeIdle(done bool) {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.n = nil, 0
	p.closed = p.closed || done
	if p.sweep != nil {
		p.sweep.Stop()
		p.sweep = nil
	}
	p.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.nc.Close()
		}
	}
}
