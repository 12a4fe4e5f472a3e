package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// UDP through a SOCKS5 proxy's UDP ASSOCIATE (RFC 1928 §7), against the
// same datagrams sent straight to a UDP echo origin:
//
//   - udp rtt: -c flows, each one datagram of 64 bytes in flight (send,
//     wait for the echo): round trips per second and their latency;
//   - udp window: 8 flows of 32 datagrams of 512 bytes in flight each:
//     datagrams echoed per second and their latency under load;
//   - udp idle: the proxy's RSS and fds per idle association (each set up
//     with one echoed datagram), from up to -udp-idle associations.

// udpEcho is the UDP origin: every datagram goes back to its sender. Two
// goroutines read the one socket, so the origin is not what a test of
// many flows measures.
type udpEcho struct {
	conn *net.UDPConn
	wg   sync.WaitGroup
}

func startUDPEcho() (*udpEcho, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	c.SetReadBuffer(4 << 20)
	c.SetWriteBuffer(4 << 20)
	e := &udpEcho{conn: c}
	for range 2 {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			buf := make([]byte, 65536)
			for {
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				c.WriteToUDPAddrPort(buf[:n], from)
			}
		}()
	}
	return e, nil
}

func (e *udpEcho) addr() netip.AddrPort { return e.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (e *udpEcho) close() {
	e.conn.Close()
	e.wg.Wait()
}

// udpFlow is one client's way to the echo: a socket connected to it
// (direct), or a SOCKS5 UDP association: the control connection, a socket
// connected to the relay, and the header naming the origin.
type udpFlow struct {
	ctrl *net.TCPConn
	conn *net.UDPConn
	hdr  []byte
	out  []byte // hdr, then the payload being sent
	in   []byte
}

// openFlow opens a flow to origin from the loopback address src.
func openFlow(v via, proxy string, origin, src netip.AddrPort) (*udpFlow, error) {
	f := &udpFlow{in: make([]byte, 65536)}
	if v == viaDirect {
		c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(src), net.UDPAddrFromAddrPort(origin))
		if err != nil {
			return nil, err
		}
		f.conn = c
		return f, nil
	}
	d := net.Dialer{Timeout: dialTimeout, LocalAddr: &net.TCPAddr{IP: src.Addr().AsSlice()}}
	nc, err := d.Dial("tcp", proxy)
	if err != nil {
		return nil, err
	}
	f.ctrl = nc.(*net.TCPConn)
	f.ctrl.SetDeadline(time.Now().Add(dialTimeout))
	relay, err := associate(f.ctrl)
	if err != nil {
		f.ctrl.Close()
		return nil, err
	}
	f.ctrl.SetDeadline(time.Time{})
	if relay.Addr().IsUnspecified() {
		relay = netip.AddrPortFrom(f.ctrl.RemoteAddr().(*net.TCPAddr).AddrPort().Addr(), relay.Port())
	}
	c, err := net.DialUDP("udp4", &net.UDPAddr{IP: src.Addr().AsSlice()}, net.UDPAddrFromAddrPort(relay))
	if err != nil {
		f.ctrl.Close()
		return nil, err
	}
	f.conn = c
	ip := origin.Addr().As4()
	f.hdr = binary.BigEndian.AppendUint16([]byte{0, 0, 0, 1, ip[0], ip[1], ip[2], ip[3]}, origin.Port())
	return f, nil
}

// associate runs UDP ASSOCIATE on ctrl, for a client address not known
// yet (all zeros), and returns the relay's address.
func associate(ctrl *net.TCPConn) (netip.AddrPort, error) {
	if _, err := ctrl.Write(socks5Greeting); err != nil {
		return netip.AddrPort{}, err
	}
	var b [22]byte
	if _, err := io.ReadFull(ctrl, b[:2]); err != nil {
		return netip.AddrPort{}, err
	}
	if b[0] != 5 || b[1] != 0 {
		return netip.AddrPort{}, fmt.Errorf("SOCKS5 method reply %d %d, want 5 0", b[0], b[1])
	}
	if _, err := ctrl.Write([]byte{5, 3, 0, 1, 0, 0, 0, 0, 0, 0}); err != nil {
		return netip.AddrPort{}, err
	}
	if _, err := io.ReadFull(ctrl, b[:4]); err != nil {
		return netip.AddrPort{}, err
	}
	rest, err := socks5ReplyRest(b[:4])
	if err != nil {
		return netip.AddrPort{}, err
	}
	if rest != 4+2 {
		return netip.AddrPort{}, errors.New("UDP relay address is not IPv4")
	}
	if _, err := io.ReadFull(ctrl, b[:rest]); err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[:4])), binary.BigEndian.Uint16(b[4:6])), nil
}

// send sends p to the origin.
func (f *udpFlow) send(p []byte) error {
	if f.hdr == nil {
		_, err := f.conn.Write(p)
		return err
	}
	f.out = append(append(f.out[:0], f.hdr...), p...)
	_, err := f.conn.Write(f.out)
	return err
}

var errShortReply = errors.New("datagram shorter than its SOCKS5 UDP header")

// recv reads the next datagram from the origin by deadline and returns its
// payload (valid until the next recv).
func (f *udpFlow) recv(deadline time.Time) ([]byte, error) {
	f.conn.SetReadDeadline(deadline)
	n, err := f.conn.Read(f.in)
	if err != nil {
		return nil, err
	}
	if f.hdr == nil {
		return f.in[:n], nil
	}
	if n < len(f.hdr) {
		return nil, errShortReply
	}
	return f.in[len(f.hdr):n], nil // the origin is IPv4: its header is as long as ours
}

func (f *udpFlow) close() {
	f.conn.Close()
	if f.ctrl != nil {
		f.ctrl.Close()
	}
}

// flows keeps the flows a measurement opened, to close them after.
type flows struct {
	mu   sync.Mutex
	list []*udpFlow
}

func (fs *flows) add(f *udpFlow) {
	fs.mu.Lock()
	fs.list = append(fs.list, f)
	fs.mu.Unlock()
}

func (fs *flows) close() {
	for _, f := range fs.list {
		f.close()
	}
}

// srcAddr is the i-th loopback source address: flows spread over
// 127.0.0.1-127.0.0.250, so a proxy's limit per client address is not what
// is measured.
func srcAddr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(1 + i%250)}), 0)
}

var (
	errLost    = errors.New("no echo within the deadline (datagram lost)")
	errGarbled = errors.New("echo differs from what was sent")
)

// stamp writes the send time into p; since reads it back.
func stamp(p []byte) { binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano())) }
func since(p []byte) time.Duration {
	return time.Duration(time.Now().UnixNano() - int64(binary.BigEndian.Uint64(p)))
}
func (b *bench) udpLabel(what string, v via, round int) string {
	return b.label(fmt.Sprintf("udp %s %s", what, v), round)
}

// udpRTT is the rtt figure's measurement of one round.
func (b *bench) udpRTT(v via, round int, echo netip.AddrPort) loopResult {
	var fs flows
	defer fs.close()
	next := 0
	var mu sync.Mutex
	return b.loop(b.udpLabel(fmt.Sprintf("rtt ×%d", b.conc), v, round), b.conc, 0, func() func() (time.Duration, error) {
		mu.Lock()
		i := next
		next++
		mu.Unlock()
		f, err := openFlow(v, b.socks, echo, srcAddr(i))
		if err != nil {
			return func() (time.Duration, error) { time.Sleep(10 * time.Millisecond); return 0, err }
		}
		fs.add(f)
		p := make([]byte, 64)
		return func() (time.Duration, error) {
			stamp(p)
			if err := f.send(p); err != nil {
				return 0, err
			}
			got, err := f.recv(time.Now().Add(time.Second))
			if err != nil {
				return 0, errLost
			}
			if len(got) != len(p) || binary.BigEndian.Uint64(got) != binary.BigEndian.Uint64(p) {
				return 0, errGarbled
			}
			return since(got), nil
		}
	})
}

// Window of the window figure: flows, datagrams in flight per flow, size.
const (
	udpWindowFlows = 8
	udpWindow      = 32
	udpWindowSize  = 512
)

// udpWindowRound is the window figure's measurement of one round: each
// operation is one echo received, and its latency is since its datagram
// was sent; each echo sends the next datagram. A loss (no echo within
// 250 ms) refills the window.
func (b *bench) udpWindowRound(v via, round int, echo netip.AddrPort) loopResult {
	var fs flows
	defer fs.close()
	next := 0
	var mu sync.Mutex
	return b.loop(b.udpLabel(fmt.Sprintf("window %d×%d", udpWindowFlows, udpWindow), v, round), udpWindowFlows, 0, func() func() (time.Duration, error) {
		mu.Lock()
		i := next
		next++
		mu.Unlock()
		f, err := openFlow(v, b.socks, echo, srcAddr(i))
		if err != nil {
			return func() (time.Duration, error) { time.Sleep(10 * time.Millisecond); return 0, err }
		}
		fs.add(f)
		p := make([]byte, udpWindowSize)
		fill := func() error {
			for range udpWindow {
				stamp(p)
				if err := f.send(p); err != nil {
					return err
				}
			}
			return nil
		}
		if err := fill(); err != nil {
			return func() (time.Duration, error) { time.Sleep(10 * time.Millisecond); return 0, err }
		}
		return func() (time.Duration, error) {
			got, err := f.recv(time.Now().Add(250 * time.Millisecond))
			if err != nil {
				if ferr := fill(); ferr != nil {
					return 0, ferr
				}
				return 0, errLost
			}
			if len(got) != udpWindowSize {
				return 0, errGarbled
			}
			d := since(got)
			stamp(p)
			return d, f.send(p)
		}
	})
}

// runUDP measures UDP through the SOCKS5 proxy against direct.
func (b *bench) runUDP(idle idleConfig) []Metric {
	if b.socks == "" {
		return nil
	}
	echo, err := startUDPEcho()
	if err != nil {
		return []Metric{{ID: "udp.rtt.rate", Label: "udp", Unit: unitPerSec, Note: "UDP echo origin: " + err.Error()}}
	}
	defer echo.close()
	vs := []via{viaDirect, viaSOCKS5}
	rtt := b.takeTurns(2, func(i, round int) loopResult { return b.udpRTT(vs[i], round, echo.addr()) })
	win := b.takeTurns(2, func(i, round int) loopResult { return b.udpWindowRound(vs[i], round, echo.addr()) })
	var ms []Metric
	for _, fig := range []struct {
		id, name string
		res      []loopResult
	}{
		{"udp.rtt", fmt.Sprintf("UDP SOCKS5 ping-pong ×%d (64 B)", b.conc), rtt},
		{"udp.window", fmt.Sprintf("UDP SOCKS5 %d flows × %d in flight (%d B)", udpWindowFlows, udpWindow, udpWindowSize), win},
	} {
		d, p := &fig.res[0], &fig.res[1]
		rate := pair(fig.id+".rate", fig.name+" datagrams echoed/s", unitPerSec, d.rate(), p.rate())
		rate.Errors, rate.Note = p.errors, p.note
		ms = append(ms, rate,
			pair(fig.id+".p50", fig.name+" p50", unitMicros, d.micros(50), p.micros(50)),
			pair(fig.id+".p99", fig.name+" p99", unitMicros, d.micros(99), p.micros(99)))
	}
	return append(ms, b.udpIdle(idle, echo.addr())...)
}

// udpIdle opens as many associations as fit (each costs the tool two
// fds: its control connection and its socket), each set up with one
// echoed datagram, reads the proxy's RSS and fds, and closes them.
func (b *bench) udpIdle(cfg idleConfig, echo netip.AddrPort) []Metric {
	held := Metric{ID: "udp.idle.assocs", Label: "idle UDP associations held", Unit: unitCount}
	if cfg.pid == 0 {
		held.Note = "no proxy PID: pass -pid"
		return []Metric{held}
	}
	u0, err := treeUsage(cfg.pid)
	if err != nil {
		held.Note = "reading /proc: " + err.Error()
		return []Metric{held}
	}
	n := idleFit(cfg.limit, selfFDs(), cfg.want)
	var fs flows
	defer fs.close()
	var fail failures
	p := make([]byte, 16)
	opened := 0
	for i := range n {
		f, err := openFlow(viaSOCKS5, b.socks, echo, srcAddr(i))
		if err == nil {
			fs.add(f)
			if err = f.send(p); err == nil {
				_, err = f.recv(time.Now().Add(dialTimeout))
			}
		}
		if err != nil {
			fail.add(err)
			break
		}
		opened++
		if i%100 == 0 {
			b.p.update("udp idle opening", fmt.Sprintf("%d of %d", i, n))
		}
	}
	u1 := settle(cfg.pid, u0)
	held.Proxy = num(float64(opened))
	held.Errors, held.Note = fail.n.Load(), fail.note()
	ms := []Metric{held}
	if opened <= 0 {
		return ms
	}
	per := float64(opened)
	ms = append(ms,
		Metric{ID: "udp.idle.rss", Label: "idle RSS per UDP association", Unit: unitKiB, Proxy: num(float64(u1.rssKiB-u0.rssKiB) / per), Note: memNote(u0, u1)},
		Metric{ID: "udp.idle.fds", Label: "idle fds per UDP association", Unit: unitFDs, Proxy: num(float64(u1.fds-u0.fds) / per)})
	b.p.done("udp idle", fmt.Sprintf("%d associations  %.1f KiB and %.2f fds each", opened,
		float64(u1.rssKiB-u0.rssKiB)/per, float64(u1.fds-u0.fds)/per))
	return ms
}
