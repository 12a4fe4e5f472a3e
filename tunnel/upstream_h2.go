package tunnel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/internal/netx"
	"golang.org/x/net/http2"
)

// HTTP/2 to an https upstream (RFC 9113): when the parent offers h2 by
// ALPN, every tunnel to it is a CONNECT stream (§8.5) on one of a few
// pooled TLS connections, so a tunnel costs one round trip and no
// handshake. A parent that chooses http/1.1 gets HTTP/1.1 CONNECT on the
// very connection that asked, as before.

// Bounds of a connection to a parent over HTTP/2.
const (
	// h2StreamWindow and h2ConnWindow bound what ferry holds of what the
	// parent sends: per tunnel (its flow-control window) and per
	// connection.
	h2StreamWindow = 4 << 20
	h2ConnWindow   = 32 << 20
	// h2FrameSize is the largest frame ferry reads from the parent
	// (SETTINGS_MAX_FRAME_SIZE): above the initial 16 KiB, the parent
	// sends a relay's read as one frame, one write.
	h2FrameSize = 256 << 10
	// h2IdleConn closes a pooled connection that carried nothing this
	// long; a parent that went away without a word is found by a PING
	// after h2PingAfter without a frame, answered within h2PingTimeout.
	h2IdleConn    = 90 * time.Second
	h2PingAfter   = 30 * time.Second
	h2PingTimeout = 15 * time.Second
)

// h2Transport holds the client settings every pool uses; its own dialing
// and pooling are not used (NewClientConn).
var h2Transport = func() *http2.Transport {
	t1 := &http.Transport{HTTP2: &http.HTTP2Config{
		MaxReceiveBufferPerStream:     h2StreamWindow,
		MaxReceiveBufferPerConnection: h2ConnWindow,
		MaxReadFrameSize:              h2FrameSize,
		SendPingTimeout:               h2PingAfter,
		PingTimeout:                   h2PingTimeout,
	}}
	t2, err := http2.ConfigureTransports(t1)
	if err != nil {
		panic(fmt.Sprintf("tunnel: http2.ConfigureTransports: %v", err))
	}
	t2.IdleConnTimeout = h2IdleConn
	return t2
}()

// h2Pool is an https upstream's HTTP/2 connections. A stream goes on the
// open connection with the fewest streams that can take one. Up to max
// connections are dialed as tunnels come (one dial at a time: the others
// wait for it rather than each dialing one); past max, a new one only
// when every open one is full (the parent's SETTINGS_MAX_CONCURRENT_STREAMS),
// so that a tunnel never waits for another to end.
type h2Pool struct {
	max     int
	mu      sync.Mutex
	conns   []*h2Parent
	dialing *h2Dial // the dial under way; nil when none
	h1      bool    // the last dial found the parent speaking HTTP/1.1
	retired bool    // a reload replaced the upstream: nothing more is pooled
}

// h2Dial is a dial under way, which others wait for.
type h2Dial struct {
	done chan struct{}
	err  error // why it failed; set before done closes
}

// h2Parent is one pooled connection.
type h2Parent struct {
	cc            *http2.ClientConn
	remote, local net.Addr
	reserved      atomic.Int32 // streams reserved on cc, not yet sent
	retiring      atomic.Bool  // its pool was retired: shut down once none is reserved
	shut          atomic.Bool
}

// reserve takes a stream on pc for its next RoundTrip; the caller calls
// started once that has been sent (or failed).
func (pc *h2Parent) reserve() bool {
	if !pc.cc.ReserveNewRequest() {
		return false
	}
	pc.reserved.Add(1)
	return true
}

// started notes that a stream reserved on pc has been sent, or failed.
func (pc *h2Parent) started() {
	if pc.reserved.Add(-1) == 0 && pc.retiring.Load() {
		pc.shutdown()
	}
}

// retire shuts pc down (GOAWAY: the streams on it finish, then it closes)
// as soon as no stream reserved on it waits to be sent: x/net's Shutdown
// waits for running streams, not for reserved ones, which would fail.
func (pc *h2Parent) retire() {
	pc.retiring.Store(true)
	if pc.reserved.Load() == 0 {
		pc.shutdown()
	}
}

func (pc *h2Parent) shutdown() {
	if pc.shut.CompareAndSwap(false, true) {
		go pc.cc.Shutdown(context.Background())
	}
}

// take returns a connection with a stream reserved on it (its next
// RoundTrip takes the reservation), or dial true when the caller is to
// dial one, or the dial under way to wait for.
func (p *h2Pool) take() (pc *h2Parent, dial bool, wait *h2Dial) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.retired {
		// Asked by a request that began before the reload: its own
		// connection, not pooled.
		return nil, true, nil
	}
	p.conns = slices.DeleteFunc(p.conns, func(c *h2Parent) bool {
		st := c.cc.State()
		return st.Closed || st.Closing
	})
	if len(p.conns) >= p.max || p.dialing != nil {
		slices.SortFunc(p.conns, func(a, b *h2Parent) int {
			return a.cc.State().StreamsActive - b.cc.State().StreamsActive
		})
		for _, c := range p.conns {
			if c.reserve() {
				return c, false, nil
			}
		}
	}
	if p.dialing != nil && !p.h1 {
		return nil, false, p.dialing
	}
	if p.dialing == nil {
		p.dialing = &h2Dial{done: make(chan struct{})}
	}
	return nil, true, nil
}

// dialed ends a dial: pc is the new connection (nil when it failed, for
// err, or the parent chose HTTP/1.1); a stream on it is reserved for the
// dialer. Those who waited for a failed dial fail with it.
func (p *h2Pool) dialed(pc *h2Parent, h1 bool, err error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.dialing; d != nil {
		d.err = err
		close(d.done)
		p.dialing = nil
	}
	p.h1 = h1
	if pc == nil || !pc.reserve() {
		return false
	}
	if p.retired {
		pc.retire() // retired while this dial was under way: not pooled
		return true
	}
	p.conns = append(p.conns, pc)
	return true
}

// dropIfGone drops c when it is going away (GOAWAY) or gone, before a
// refused stream is asked again; a stream refused on a working connection
// (REFUSED_STREAM, RFC 9113 §8.7) leaves it, and the tunnels on it, be.
func (p *h2Pool) dropIfGone(c *h2Parent) {
	if st := c.cc.State(); st.Closing || st.Closed {
		p.drop(c)
	}
}

// drop takes a connection that failed out of the pool and closes it.
func (p *h2Pool) drop(c *h2Parent) {
	p.mu.Lock()
	p.conns = slices.DeleteFunc(p.conns, func(x *h2Parent) bool { return x == c })
	p.mu.Unlock()
	c.cc.Close()
}

// retire sends GOAWAY on the pooled connections of an upstream a reload
// replaced (or at shutdown): the streams on them finish, and each closes
// after its last, rather than idling until h2IdleConn.
func (p *h2Pool) retire() {
	p.mu.Lock()
	conns := p.conns
	p.conns, p.retired = nil, true
	p.mu.Unlock()
	for _, c := range conns {
		c.retire()
	}
}

// parentH2 gives a stream on an HTTP/2 connection to the parent, pooled
// or new; or, when the parent chose HTTP/1.1 for the connection just
// dialed, that connection (c1) for HTTP/1.1.
func (u *Upstream) parentH2(ctx context.Context) (pc *h2Parent, c1 net.Conn, err error) {
	for {
		pc, dial, wait := u.h2.take()
		switch {
		case pc != nil:
			return pc, nil, nil
		case !dial:
			select {
			case <-wait.done:
				if isUpstreamFault(wait.err) {
					return nil, nil, wait.err // the parent's: the next waiter would only fail again
				}
				continue
			case <-ctx.Done():
				return nil, nil, dialError(ctx.Err(), "connect to upstream "+u.name)
			}
		}
		c, err := u.dialParent(ctx, u.tlsH2)
		if err != nil {
			u.h2.dialed(nil, false, err)
			return nil, nil, err
		}
		tc, ok := c.(*tls.Conn)
		if !ok || tc.ConnectionState().NegotiatedProtocol != http2.NextProtoTLS {
			u.h2.dialed(nil, true, nil)
			return nil, c, nil
		}
		var conn net.Conn = tc
		if b, ok := tc.NetConn().(*netx.RecordBatcher); ok {
			conn = netx.NewBatchedTLS(tc, b) // dialParent made it so
		}
		cc, err := h2Transport.NewClientConn(conn)
		if err != nil {
			c.Close()
			err = u.fault(&Error{Kind: BadGateway, Err: fmt.Errorf("HTTP/2 with upstream %s: %w", u.name, err)})
			u.h2.dialed(nil, false, err)
			return nil, nil, err
		}
		pc = &h2Parent{cc: cc, remote: c.RemoteAddr(), local: c.LocalAddr()}
		if !u.h2.dialed(pc, false, nil) {
			cc.Close()
			return nil, nil, u.fault(&Error{Kind: BadGateway, Err: fmt.Errorf("upstream %s: a new HTTP/2 connection takes no stream", u.name)})
		}
		return pc, nil, nil
	}
}

// dialH2 opens a tunnel to addr through the parent: a CONNECT stream on a
// pooled HTTP/2 connection, or HTTP/1.1 CONNECT on a new connection when
// the parent chose HTTP/1.1. A stream refused because its connection was
// going away (GOAWAY, a dead connection) never reached the parent: it is
// tried once more on a fresh connection.
func (u *Upstream) dialH2(ctx context.Context, addr string) (net.Conn, error) {
	for attempt := 0; ; attempt++ {
		pc, c1, err := u.parentH2(ctx)
		switch {
		case err != nil:
			return nil, err
		case c1 != nil:
			c, err := u.connect(ctx, c1, addr)
			if err != nil {
				c1.Close()
			}
			return c, err
		}
		s, err := u.connectStream(ctx, pc, addr)
		pc.started()
		if err == nil || attempt > 0 || ctx.Err() != nil || !notStarted(err, pc) {
			return s, err
		}
		u.h2.dropIfGone(pc)
	}
}

// notStarted reports whether a stream that failed before its answer may
// go again on another connection: the parent refused it unprocessed
// (REFUSED_STREAM, RFC 9113 §8.7), or its connection is going away
// (GOAWAY, §6.8) or gone. A CONNECT sent nothing but its head, so even
// one the parent had read may be asked again.
func notStarted(err error, pc *h2Parent) bool {
	var se http2.StreamError
	if errors.As(err, &se) && se.Code == http2.ErrCodeRefusedStream {
		return true
	}
	st := pc.cc.State()
	return st.Closing || st.Closed
}

// RoundTripH2 sends a plain-HTTP request to the parent as a stream on
// one of its HTTP/2 connections, in the form HTTP/2 proxy requests take:
// :scheme and :authority are the origin's (RFC 9113 §8.3.1), from r's
// absolute URL; r carries its Proxy-Authorization. It returns the
// parent's address. ok is false when nothing was sent because the
// upstream has no HTTP/2 (not https, http2 off, or its parent chose
// HTTP/1.1 for the connection last dialed): HTTP/1.1 is the caller's way
// then. A failure to reach the parent is marked (IsNotSent). A request
// whose stream failed on a connection going away is sent once more on a
// fresh one when retry says it may be.
func (u *Upstream) RoundTripH2(r *http.Request, retry bool) (res *http.Response, parent net.Addr, ok bool, err error) {
	if u.h2 == nil || u.h2.speaksH1() {
		return nil, nil, false, nil
	}
	for attempt := 0; ; attempt++ {
		pc, c1, err := u.parentH2(r.Context())
		switch {
		case err != nil:
			return nil, nil, true, notSent{err}
		case c1 != nil:
			c1.Close() // learned: the parent speaks HTTP/1.1
			return nil, nil, false, nil
		}
		res, err := pc.cc.RoundTrip(r)
		pc.started()
		if err == nil || attempt > 0 || !retry || r.Context().Err() != nil || !notStarted(err, pc) {
			if err != nil && !notStarted(err, pc) {
				err = streamFailure{err}
			}
			return res, pc.remote, true, err
		}
		u.h2.dropIfGone(pc)
	}
}

// speaksH1 reports whether the last dial found the parent speaking
// HTTP/1.1, and no HTTP/2 connection is open.
func (p *h2Pool) speaksH1() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.h1 && len(p.conns) == 0
}

// streamFailure is a request that failed on its own stream while its
// connection to the parent kept working: x/net refused it before sending
// (a header list over the parent's advertised limit, say), the parent
// reset the stream, the client's body failed, or the request's context
// ended (the client left, or no answer came in time: a slow origin). It says nothing of the
// parent's health: counted against the parent, one client's request
// would take it out of service for everyone.
type streamFailure struct{ err error }

func (e streamFailure) Error() string { return e.err.Error() }
func (e streamFailure) Unwrap() error { return e.err }

// IsStreamFailure reports whether err is a request's own failure on a
// working HTTP/2 connection to its parent (RoundTripH2): not the
// parent's fault.
func IsStreamFailure(err error) bool {
	var sf streamFailure
	return errors.As(err, &sf)
}

// notSent marks a failure to reach a parent: nothing of the request was
// sent.
type notSent struct{ err error }

func (e notSent) Error() string { return e.err.Error() }
func (e notSent) Unwrap() error { return e.err }

// IsNotSent reports whether err says nothing of the request was sent.
func IsNotSent(err error) bool {
	var ns notSent
	return errors.As(err, &ns)
}

// retire retires the HTTP/2 pools of rs's upstreams; nil rs has none.
func (rs *Routes) retire() {
	if rs == nil {
		return
	}
	for _, u := range rs.upstreams {
		if u.h2 != nil {
			u.h2.retire()
		}
	}
}
