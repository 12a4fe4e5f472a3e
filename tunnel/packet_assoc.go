package tunnel

import (
	"context"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/limit"
)

// Association is one client's datagram association: the destinations it
// sent to, each set up once (ACL, route, the way out), and the counters.
// Its Run goroutine reads the client's datagrams and sends them; each way
// out has a goroutine of its own that passes replies back.
type Association struct {
	e      *Engine
	req    Request // the client's; each destination's request copies it
	key    netip.Prefix
	cfg    UDPConfig
	client PacketClient
	// lim holds the association's [[limit]] slots; m counts its
	// datagrams' payload into its byte quotas (nil: none applies).
	lim *limit.Ticket
	m   *limit.Meter

	ctx     context.Context // ends with the association: setups stop
	cancel  context.CancelCauseFunc
	unhook  func() bool // from the front end's context
	endOnce sync.Once
	err     error // why it ended; nil when the client ended it
	release sync.Once
	wg      sync.WaitGroup // setups and the ways' readers

	// The Run goroutine's own (and Prepare's, before Run).
	byAddr map[netip.AddrPort]*packetDest
	byName map[nameKey]*packetDest
	first  []*packetDest // the first few, for the stats and the record

	mu      sync.Mutex // what setups share:
	closed  bool
	closers []io.Closer
	direct  *directSocket
	socks   map[*Upstream]*socksSlot
	queued  int // bytes waiting for their destinations' setups
	// peers are the addresses the direct socket sent to: replies from
	// others are dropped. Written under mu, copied on write: the reader
	// looks it up without a lock.
	peers atomic.Pointer[map[netip.AddrPort]struct{}]

	lastActive atomic.Int64 // unix nanoseconds of the last datagram either way
	idle       *time.Timer

	up, down, dgramsUp, dgramsDown atomic.Int64
	ndests, denied                 atomic.Int64
	dropped                        [numDrops]atomic.Int64
}

type nameKey struct {
	host string
	port uint16
}

// packetDest is one destination of an association.
type packetDest struct {
	addr  PacketAddr    // as the client named it
	state atomic.Uint32 // destPending until its setup settles it
	way   packetWay     // set before state turns destReady
	out   Outcome       // what the setup decided; read once it settled
	why   error         // why the setup failed; read once it settled
	mu    sync.Mutex    // guards queue, and orders it before later datagrams
	queue [][]byte      // datagrams waiting for the setup, each after PacketHeadroom bytes
}

const (
	destPending = iota
	destReady
	destDenied
	destFailed
)

// packetWay is how datagrams reach one destination: ferry's own socket,
// a SOCKS5 upstream's relay, a CONNECT-UDP tunnel.
type packetWay interface {
	// send sends b[off:] to the destination; b[:off] is free for framing
	// (at least PacketHeadroom bytes).
	send(b []byte, off int) error
}

// Associate opens a datagram association for req (its Proto ProtoUDP, its
// Client and User; no target yet) whose client side is client. It counts
// against limits.udp (an Overloaded error over them) and, like a tunnel,
// is admitted by the [[limit]] rules (a Limited error over one): it holds
// a tunnel slot until it ends, and its datagrams count into the byte
// quotas as they go, a spent quota ending it. The association
// ends when ctx does, when End is called, or after the UDP idle timeout;
// Run relays until then, or Close releases it unused.
func (e *Engine) Associate(ctx context.Context, req *Request, client PacketClient) (*Association, error) {
	key, err := e.assocs.take(&e.cfg.UDP, req.Client.Addr())
	if err != nil {
		return nil, err
	}
	lim, err := e.Admit(ctx, req)
	if err != nil {
		e.assocs.give(key)
		return nil, err
	}
	a := &Association{e: e, req: *req, key: key, cfg: e.cfg.UDP, client: client, lim: lim, m: lim.Meter(),
		byAddr: map[netip.AddrPort]*packetDest{}, byName: map[nameKey]*packetDest{}}
	a.ctx, a.cancel = context.WithCancelCause(context.WithoutCancel(ctx))
	a.unhook = context.AfterFunc(ctx, func() { a.End(context.Cause(ctx)) })
	empty := map[netip.AddrPort]struct{}{}
	a.peers.Store(&empty)
	a.touch()
	if a.m != nil {
		a.m.OnStop(a.End) // a spent quota ends it, its error the association's
	}
	return a, nil
}

// Prepare sets up dst before any datagram goes to it, and returns what
// was decided: the answer to a CONNECT-UDP request, whose one target is
// known before its tunnel is granted. It must be called before Run.
func (a *Association) Prepare(dst PacketAddr) (Outcome, error) {
	d, isNew := a.dest(dst)
	switch {
	case d == nil:
		return Outcome{}, Errorf(Overloaded, "limits.udp.max_destinations reached")
	case isNew:
		a.wg.Add(1)
		a.setup(d)
	}
	return d.out, d.why
}

// Run relays until the association ends, then returns what it moved and
// why it ended: nil when the client ended it (End(nil)), ErrIdle, or the
// failure that ended it.
func (a *Association) Run() (PacketStats, error) {
	if idle := a.cfg.IdleTimeout; idle > 0 {
		a.mu.Lock()
		a.idle = time.AfterFunc(idle, a.checkIdle)
		a.mu.Unlock()
	}
	a.readClient()
	a.Close()
	return a.stats(), a.err
}

// readClient is the Run goroutine: the client's datagrams, each to its
// destination.
func (a *Association) readClient() {
	var b PacketBuf
	defer b.Release()
	for a.ctx.Err() == nil {
		off, n, dst, err := a.client.ReadPacket(&b)
		if err != nil {
			if d, ok := err.(Drop); ok {
				a.drop(d)
				continue
			}
			if err == io.EOF {
				err = nil // the client ended it
			}
			a.End(err)
			return
		}
		a.touch()
		a.send(b.Bytes()[:off+n], off, dst)
	}
}

// send sends b[off:] to dst: at once to a destination set up, after its
// setup to a new one.
func (a *Association) send(b []byte, off int, dst PacketAddr) {
	d, isNew := a.dest(dst)
	switch {
	case d == nil:
		a.drop(DropTooMany)
		return
	case isNew:
		a.wg.Add(1)
		go a.setup(d)
	}
	switch d.state.Load() {
	case destReady:
		a.sendTo(d, b, off)
	case destPending:
		a.wait(d, b, off)
	case destDenied:
		a.drop(DropDenied)
	default:
		a.drop(DropUnreachable)
	}
}

func (a *Association) sendTo(d *packetDest, b []byte, off int) {
	if err := d.way.send(b, off); err != nil {
		a.drop(DropSend)
		return
	}
	a.dgramsUp.Add(1)
	a.up.Add(int64(len(b) - off))
	if a.m != nil {
		a.m.Add(int64(len(b) - off))
	}
}

// wait queues a datagram, b[off:], for a destination being set up,
// within bounds; if the setup settled meanwhile, it goes (or drops) at
// once.
func (a *Association) wait(d *packetDest, b []byte, off int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch d.state.Load() {
	case destReady:
		a.sendTo(d, b, off)
		return
	case destDenied:
		a.drop(DropDenied)
		return
	case destFailed:
		a.drop(DropUnreachable)
		return
	}
	p := b[off:]
	a.mu.Lock()
	full := len(d.queue) >= maxQueuedPerDestination || a.queued+len(p) > maxQueuedBytes
	if !full {
		a.queued += len(p)
	}
	a.mu.Unlock()
	if full {
		a.drop(DropQueue)
		return
	}
	q := make([]byte, PacketHeadroom+len(p))
	copy(q[PacketHeadroom:], p)
	d.queue = append(d.queue, q)
}

// dest finds dst's destination, or makes it (isNew: the caller starts
// its setup); nil when the association may not have another.
func (a *Association) dest(dst PacketAddr) (d *packetDest, isNew bool) {
	if dst.Host == "" {
		d = a.byAddr[dst.AddrPort]
	} else {
		d = a.byName[nameKey{dst.Host, dst.Port()}]
	}
	if d != nil {
		return d, false
	}
	n := a.ndests.Load()
	if max := a.cfg.MaxDestinations; max > 0 && n >= int64(max) {
		return nil, false
	}
	d = &packetDest{addr: dst}
	if dst.Host == "" {
		a.byAddr[dst.AddrPort] = d
	} else {
		a.byName[nameKey{dst.Host, dst.Port()}] = d
	}
	a.ndests.Add(1)
	if len(a.first) < firstDests {
		a.first = append(a.first, d)
	}
	return d, true
}

// touch notes a datagram either way, for the idle timeout.
func (a *Association) touch() { a.lastActive.Store(time.Now().UnixNano()) }

func (a *Association) checkIdle() {
	idle := a.cfg.IdleTimeout
	quiet := time.Since(time.Unix(0, a.lastActive.Load()))
	if quiet >= idle {
		a.End(ErrIdle)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.closed {
		a.idle.Reset(idle - quiet)
	}
}

func (a *Association) drop(d Drop) { a.dropped[d].Add(1) }

// own makes c the association's to close when it ends; false (and c
// closed) when it has ended already.
func (a *Association) own(c io.Closer) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		c.Close()
		return false
	}
	a.closers = append(a.closers, c)
	return true
}

// goRead runs a way's reader on a goroutine of its own, counted, unless
// the association has ended.
func (a *Association) goRead(read func()) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		read()
	}()
	return true
}

// deliver passes a reply, b[off:] from src, to the client.
func (a *Association) deliver(b []byte, off int, src PacketAddr) {
	a.touch()
	if err := a.client.WritePacket(b, off, src); err != nil {
		if d, ok := err.(Drop); ok {
			a.drop(d)
			return
		}
		a.End(err)
		return
	}
	a.dgramsDown.Add(1)
	a.down.Add(int64(len(b) - off))
	if a.m != nil {
		a.m.Add(int64(len(b) - off))
	}
}

// End ends the association: the client's side and every way out are
// closed, Run returns. cause is what Run reports (nil: the client ended
// it). Only the first call counts.
func (a *Association) End(cause error) {
	a.endOnce.Do(func() {
		a.err = cause
		a.cancel(cause)
		a.client.Close()
		a.mu.Lock()
		a.closed = true
		if a.idle != nil {
			a.idle.Stop()
		}
		cs := a.closers
		a.closers = nil
		a.mu.Unlock()
		for _, c := range cs {
			c.Close()
		}
	})
}

// Close ends the association, if it has not ended, and waits for its
// goroutines; its place under the limits is given back.
func (a *Association) Close() {
	a.End(nil)
	a.wg.Wait()
	a.release.Do(func() {
		a.unhook()
		a.e.assocs.give(a.key)
		a.lim.Done()
	})
}

// stats reads the counters, once the goroutines have ended.
func (a *Association) stats() PacketStats {
	st := PacketStats{
		Up: a.up.Load(), Down: a.down.Load(),
		DgramsUp: a.dgramsUp.Load(), DgramsDown: a.dgramsDown.Load(),
		Dests: int(a.ndests.Load()), Denied: int(a.denied.Load()),
	}
	for i := range st.Dropped {
		st.Dropped[i] = a.dropped[i].Load()
	}
	for _, d := range a.first {
		st.First = append(st.First, d.addr.String())
	}
	if len(a.first) > 0 {
		st.Outcome = a.first[0].out
	}
	return st
}
