package socks

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/front"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/udpframe"
	"github.com/ferry-proxy/ferry/tunnel"
)

type decideFunc func(q *acl.Query) acl.Verdict

func (f decideFunc) Decide(q *acl.Query) acl.Verdict { return f(q) }

// udpEcho is a UDP target on loopback that sends every datagram back to
// its sender, from the same socket or, with from set, from another one.
type udpEcho struct {
	addr netip.AddrPort
	seen chan netip.AddrPort // the source of each datagram
}

func startUDPEcho(t testing.TB, from *net.UDPConn) *udpEcho {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e := &udpEcho{addr: netip.MustParseAddrPort(c.LocalAddr().String()), seen: make(chan netip.AddrPort, 1024)}
	out := c
	if from != nil {
		out = from
	}
	go func() {
		buf := make([]byte, 70000)
		for {
			n, src, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			out.WriteToUDPAddrPort(buf[:n], src)
			select { // after the answer: a test that saw it can count on it
			case e.seen <- src:
			default:
			}
		}
	}()
	return e
}

// associate opens a UDP association for a client that declares port
// (0: none) and returns its control conn and the relay address replied.
func associate(t testing.TB, w *world, port uint16) (*net.TCPConn, netip.AddrPort) {
	t.Helper()
	c := w.dial(t)
	rep, bnd := connect5(t, c, cmdAssociate, atypIPv4, ip4("0.0.0.0"), port)
	if rep != repSucceeded {
		t.Fatalf("UDP ASSOCIATE reply %#x, want success", rep)
	}
	if !bnd.Addr().IsLoopback() || bnd.Port() == 0 {
		t.Fatalf("relay address %v: want the loopback address the client reached ferry at", bnd)
	}
	return c, bnd
}

func udpClient(t testing.TB) *net.UDPConn {
	t.Helper()
	u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// datagram is a SOCKS5 UDP request: the header for dst (or name and
// dst's port), then payload.
func datagram(dst netip.AddrPort, name, payload string) []byte {
	return append(udpframe.AppendSOCKS(nil, dst, name), payload...)
}

// exchange sends b to the relay and reads one reply, with its header.
func exchange(t testing.TB, u *net.UDPConn, relay netip.AddrPort, b []byte) (udpframe.SOCKSHeader, string) {
	t.Helper()
	if _, err := u.WriteToUDPAddrPort(b, relay); err != nil {
		t.Fatal(err)
	}
	return readUDP(t, u, relay)
}

func readUDP(t testing.TB, u *net.UDPConn, relay netip.AddrPort) (udpframe.SOCKSHeader, string) {
	t.Helper()
	buf := make([]byte, 70000)
	u.SetReadDeadline(time.Now().Add(bound))
	n, from, err := u.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no reply: %v", err)
	}
	if from != relay {
		t.Fatalf("reply from %v, want the relay %v", from, relay)
	}
	h, err := udpframe.ParseSOCKS(buf[:n])
	if err != nil {
		t.Fatalf("reply header: %v", err)
	}
	return h, string(buf[h.Len:n])
}

// endAssociation closes the control connection and returns the access
// record the association's end wrote.
func endAssociation(t *testing.T, w *world, c *net.TCPConn) *accesslog.Record {
	t.Helper()
	c.Close()
	r := w.log.next(t)
	if r.Packets == nil {
		t.Fatalf("access record without packet counts: %+v", r)
	}
	return r
}

func udpWorld(t testing.TB, udp tunnel.UDPConfig, pol *tunnel.Policy) *world {
	return newWorldWith(t, front.Auto, tunnel.Config{DialTimeout: 5 * time.Second, UDP: udp}, pol)
}

func TestSOCKS5UDPAssociate(t *testing.T) {
	e := startUDPEcho(t, nil)
	w := udpWorld(t, tunnel.UDPConfig{}, nil)
	c, relay := associate(t, w, 0)
	u := udpClient(t)

	h, got := exchange(t, u, relay, datagram(e.addr, "", "ping"))
	if got != "ping" || h.Addr != e.addr || h.Name != nil {
		t.Fatalf("reply %q from %v %q; want ping from %v", got, h.Addr, h.Name, e.addr)
	}
	// A name: ferry resolves it; the reply names the address it came from.
	h, got = exchange(t, u, relay, datagram(netip.AddrPortFrom(netip.Addr{}, e.addr.Port()), "LocalHost.", "by name"))
	if got != "by name" || h.Addr.Port() != e.addr.Port() || !h.Addr.Addr().IsLoopback() {
		t.Fatalf("reply %q from %v; want it from the echo's port on loopback", got, h.Addr)
	}
	// Both destinations went out of one socket: one source port.
	if a, b := <-e.seen, <-e.seen; a != b {
		t.Errorf("the target saw %v and then %v: want one source for the association", a, b)
	}
	big := string(bytes.Repeat([]byte("x"), 60000))
	if _, got = exchange(t, u, relay, datagram(e.addr, "", big)); got != big {
		t.Errorf("a 60000-byte datagram came back as %d bytes", len(got))
	}

	r := endAssociation(t, w, c)
	p := r.Packets
	if r.Proto != "socks5" || r.Method != "UDP_ASSOCIATE" || r.Status != 0 || r.Err != nil ||
		r.Target != e.addr.String() || r.Dialed != e.addr.String() || r.Decision != "allow" {
		t.Errorf("record %+v", r)
	}
	wantBytes := int64(4 + 7 + 60000)
	if p.Dests != 2 || p.DgramsUp != 3 || p.DgramsDown != 3 || r.BytesUp != wantBytes || r.BytesDown != wantBytes ||
		p.DroppedTotal() != 0 || len(p.First) != 2 || p.First[1] != "LocalHost.:"+itoa(e.addr.Port()) {
		t.Errorf("packets %+v bytes %d/%d", p, r.BytesUp, r.BytesDown)
	}
}

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

// Bad input is dropped and counted, never answered and never the end of
// the association: the client's next good datagram still goes through.
func TestSOCKS5UDPBadInput(t *testing.T) {
	e := startUDPEcho(t, nil)
	w := udpWorld(t, tunnel.UDPConfig{}, nil)
	c, relay := associate(t, w, 0)
	u := udpClient(t)
	if _, got := exchange(t, u, relay, datagram(e.addr, "", "first")); got != "first" {
		t.Fatalf("echo %q", got)
	}
	stranger := udpClient(t) // the client's address, another port
	// Another address, the client's port.
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: u.LocalAddr().(*net.UDPAddr).Port})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	bad := []struct {
		from *net.UDPConn
		b    []byte
	}{
		{stranger, datagram(e.addr, "", "from a stranger")},
		{other, datagram(e.addr, "", "from another address")},
		{u, []byte{0, 0}},                                                 // truncated
		{u, []byte{0, 0, 0, 1, 127, 0}},                                   // truncated address
		{u, []byte{0, 0, 0, 9, 127, 0, 0, 1, 0, 53, 'x'}},                 // unknown address type
		{u, append([]byte{0, 0, 1}, datagram(e.addr, "", "frag")[3:]...)}, // FRAG 1
		{u, []byte{0, 0, 0, 3, 0, 0, 53}},                                 // empty name
	}
	for _, b := range bad {
		if _, err := b.from.WriteToUDPAddrPort(b.b, relay); err != nil {
			t.Fatal(err)
		}
	}
	// Datagrams from one socket to another on loopback stay in order:
	// once "last" is echoed, the bad ones before it were read and dropped.
	if _, got := exchange(t, u, relay, datagram(e.addr, "", "last")); got != "last" {
		t.Fatalf("echo %q after the bad input", got)
	}
	stranger.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, _, err := stranger.ReadFromUDPAddrPort(make([]byte, 100)); err == nil {
		t.Errorf("the stranger got %d bytes", n)
	}
	r := endAssociation(t, w, c)
	d := r.Packets.Dropped
	want := map[tunnel.Drop]int64{tunnel.DropStranger: 2, tunnel.DropMalformed: 4, tunnel.DropFragment: 1}
	for _, reason := range tunnel.Drops() {
		if d[reason] != want[reason] {
			t.Errorf("dropped as %s: %d, want %d", reason, d[reason], want[reason])
		}
	}
	if r.Packets.DgramsUp != 2 || r.Packets.Dests != 1 {
		t.Errorf("packets %+v", r.Packets)
	}
}

// A client that declared its port may send from that port only; replies
// go there from the start.
func TestSOCKS5UDPDeclaredPort(t *testing.T) {
	e := startUDPEcho(t, nil)
	w := udpWorld(t, tunnel.UDPConfig{}, nil)
	u := udpClient(t)
	other := udpClient(t)
	c, relay := associate(t, w, netip.MustParseAddrPort(u.LocalAddr().String()).Port())
	other.WriteToUDPAddrPort(datagram(e.addr, "", "wrong port"), relay)
	if _, got := exchange(t, u, relay, datagram(e.addr, "", "right port")); got != "right port" {
		t.Fatalf("echo %q", got)
	}
	r := endAssociation(t, w, c)
	if r.Packets.Dropped[tunnel.DropStranger] != 1 || r.Packets.DgramsUp != 1 {
		t.Errorf("packets %+v: want the other port's datagram dropped as a stranger's", r.Packets)
	}
}

// Each destination is asked of the ACL, with the udp protocol, before the
// first datagram to it; a denied one drops its datagrams, the others go.
func TestSOCKS5UDPACL(t *testing.T) {
	e := startUDPEcho(t, nil)
	denied := startUDPEcho(t, nil)
	var protos = make(chan string, 16)
	pol := &tunnel.Policy{ACL: decideFunc(func(q *acl.Query) acl.Verdict {
		select {
		case protos <- q.Proto:
		default:
		}
		if q.Port == denied.addr.Port() {
			return acl.Verdict{Rule: "no-udp-here"}
		}
		return acl.Verdict{Allow: true, Rule: "ok"}
	})}
	w := udpWorld(t, tunnel.UDPConfig{}, pol)
	c, relay := associate(t, w, 0)
	u := udpClient(t)
	u.WriteToUDPAddrPort(datagram(denied.addr, "", "no"), relay)
	u.WriteToUDPAddrPort(datagram(denied.addr, "", "no again"), relay)
	if _, got := exchange(t, u, relay, datagram(e.addr, "", "yes")); got != "yes" {
		t.Fatalf("echo %q", got)
	}
	if p := <-protos; p != "udp" {
		t.Errorf("the ACL was asked with proto %q, want udp", p)
	}
	r := endAssociation(t, w, c)
	select {
	case src := <-denied.seen:
		t.Errorf("the denied destination got a datagram from %v", src)
	default:
	}
	if r.Packets.Denied != 1 || r.Packets.Dropped[tunnel.DropDenied] != 2 || r.Packets.Dests != 2 {
		t.Errorf("packets %+v: want 1 destination denied, 2 datagrams dropped", r.Packets)
	}
	// The first destination decides the record's verdict.
	if r.Decision != "deny" || r.Rule != "no-udp-here" {
		t.Errorf("record decision %q rule %q", r.Decision, r.Rule)
	}
}

// A flood of destinations stops at max_destinations: datagrams to more
// are dropped and counted.
func TestSOCKS5UDPDestinationLimit(t *testing.T) {
	e := startUDPEcho(t, nil)
	w := udpWorld(t, tunnel.UDPConfig{MaxDestinations: 3}, nil)
	c, relay := associate(t, w, 0)
	u := udpClient(t)
	if _, got := exchange(t, u, relay, datagram(e.addr, "", "to the echo")); got != "to the echo" {
		t.Fatalf("echo %q", got)
	}
	// Two more destinations fit, then no more.
	for p := uint16(1); p <= 50; p++ {
		u.WriteToUDPAddrPort(datagram(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), p), "", "flood"), relay)
	}
	if _, got := exchange(t, u, relay, datagram(e.addr, "", "still")); got != "still" {
		t.Fatalf("echo %q after the flood", got)
	}
	r := endAssociation(t, w, c)
	if r.Packets.Dests != 3 || r.Packets.Dropped[tunnel.DropTooMany] != 48 {
		t.Errorf("packets %+v: want 3 destinations, 48 datagrams over the limit", r.Packets)
	}
}

// A reply from an address the client never sent to is dropped.
func TestSOCKS5UDPUnsolicited(t *testing.T) {
	other := udpClient(t)
	e := startUDPEcho(t, other) // answers from another port
	w := udpWorld(t, tunnel.UDPConfig{}, nil)
	c, relay := associate(t, w, 0)
	u := udpClient(t)
	u.WriteToUDPAddrPort(datagram(e.addr, "", "hello"), relay)
	<-e.seen
	// The echo has answered, from other. An answered exchange with a
	// second echo (whose answer reaches ferry's socket after that one)
	// makes sure the first was read.
	e2 := startUDPEcho(t, nil)
	if _, got := exchange(t, u, relay, datagram(e2.addr, "", "answered")); got != "answered" {
		t.Fatalf("echo %q", got)
	}
	r := endAssociation(t, w, c)
	if r.Packets.Dropped[tunnel.DropUnsolicited] != 1 || r.Packets.DgramsDown != 1 {
		t.Errorf("packets %+v: want the reply from another port dropped", r.Packets)
	}
}

// The association ends after the idle timeout, its control connection
// closed; and limits.udp refuses associations over max_per_client.
func TestSOCKS5UDPIdleAndLimits(t *testing.T) {
	w := udpWorld(t, tunnel.UDPConfig{IdleTimeout: 100 * time.Millisecond, MaxPerClient: 1}, nil)
	c, _ := associate(t, w, 0)
	c2 := w.dial(t)
	if rep, _ := connect5(t, c2, cmdAssociate, atypIPv4, ip4("0.0.0.0"), 0); rep != repGeneralFailure {
		t.Errorf("a second association from the client: reply %#x, want 0x01", rep)
	}
	if r := w.log.next(t); r.ProxyStatus != "connection_limit_reached" || r.Method != "UDP_ASSOCIATE" {
		t.Errorf("refusal record %+v", r)
	}
	r := w.log.next(t)
	if r.Err != tunnel.ErrIdle || r.Packets == nil {
		t.Errorf("record %+v: want the idle timeout", r)
	}
	c.SetReadDeadline(time.Now().Add(bound))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("control connection after the idle timeout: %d bytes, %v; want it closed", n, err)
	}
	// The place is free again.
	c3, _ := associate(t, w, 0)
	c3.Close()
	w.log.next(t)
}
