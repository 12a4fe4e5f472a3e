package tunnel_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/tunnel"

	"github.com/ferry-proxy/ferry/internal/testnet"
)

// packet is one datagram the fake client sends, to dst.
type packet struct {
	dst     tunnel.PacketAddr
	payload string
}

// reply is one datagram the engine passed back, from src.
type reply struct {
	src     tunnel.PacketAddr
	payload string
}

// fakeClient is a PacketClient driven by the test.
type fakeClient struct {
	in      chan packet
	replies chan reply
	closed  chan struct{}
}

func newFakeClient() *fakeClient {
	return &fakeClient{in: make(chan packet, 64), replies: make(chan reply, 64), closed: make(chan struct{})}
}

func (f *fakeClient) ReadPacket(b *tunnel.PacketBuf) (int, int, tunnel.PacketAddr, error) {
	select {
	case p := <-f.in:
		return tunnel.PacketHeadroom, copy(b.Bytes()[tunnel.PacketHeadroom:], p.payload), p.dst, nil
	case <-f.closed:
		return 0, 0, tunnel.PacketAddr{}, io.EOF
	}
}

func (f *fakeClient) WritePacket(b []byte, off int, src tunnel.PacketAddr) error {
	if off < tunnel.PacketHeadroom {
		return fmt.Errorf("only %d bytes of headroom", off)
	}
	f.replies <- reply{src, string(b[off:])}
	return nil
}

func (f *fakeClient) Close() error {
	select {
	case <-f.closed:
	default:
		close(f.closed)
	}
	return nil
}

func (f *fakeClient) next(t *testing.T) reply {
	t.Helper()
	select {
	case r := <-f.replies:
		return r
	case <-time.After(bound):
		t.Fatal("no reply")
		return reply{}
	}
}

func udpRequest() *tunnel.Request {
	return &tunnel.Request{Proto: tunnel.ProtoUDP, Client: netip.MustParseAddrPort("127.0.0.1:40000")}
}

// running is an association on its Run goroutine.
type running struct {
	a    *tunnel.Association
	done chan struct{}
	st   tunnel.PacketStats
	err  error
}

func runAssoc(t *testing.T, e *tunnel.Engine, f *fakeClient) *running {
	t.Helper()
	a, err := e.Associate(context.Background(), udpRequest(), f)
	if err != nil {
		t.Fatal(err)
	}
	r := &running{a: a, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.st, r.err = a.Run()
	}()
	t.Cleanup(func() { a.End(nil); <-r.done })
	return r
}

func (r *running) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(bound):
		t.Fatal("the association did not end")
	}
}

func TestAssociationDirect(t *testing.T) {
	echo := testnet.UDPEcho(t)
	e := tunnel.New(tunnel.Config{}, nil)
	f := newFakeClient()
	r := runAssoc(t, e, f)
	f.in <- packet{tunnel.AddrOf(echo), "one"}
	if got := f.next(t); got.payload != "one" || got.src != tunnel.AddrOf(echo) {
		t.Fatalf("reply %+v", got)
	}
	f.in <- packet{tunnel.NameOf("localhost", echo.Port()), "two"}
	if got := f.next(t); got.payload != "two" || got.src.AddrPort.Port() != echo.Port() {
		t.Fatalf("reply %+v", got)
	}
	f.Close()
	r.wait(t)
	if r.err != nil || r.st.Dests != 2 || r.st.DgramsUp != 2 || r.st.DgramsDown != 2 || r.st.Up != 6 ||
		r.st.Outcome.Dialed != echo.String() || r.st.Outcome.Route != "direct" || r.st.Outcome.Decision != "allow" {
		t.Errorf("stats %+v, err %v", r.st, r.err)
	}
	if n := e.Associations(); n != 0 {
		t.Errorf("%d associations still counted", n)
	}
}

// Datagrams to a destination being set up wait for it, in order and
// within bounds; those past the bound are dropped.
func TestAssociationQueue(t *testing.T) {
	echo := testnet.UDPEcho(t)
	release := make(chan struct{})
	asked := make(chan struct{}, 8)
	pol := &tunnel.Policy{ACL: decideFunc(func(q *acl.Query) acl.Verdict {
		asked <- struct{}{}
		<-release // the setup waits here
		return acl.Verdict{Allow: true, Rule: "ok"}
	})}
	e := tunnel.New(tunnel.Config{}, pol)
	f := newFakeClient()
	r := runAssoc(t, e, f)
	for i := range 20 {
		f.in <- packet{tunnel.AddrOf(echo), fmt.Sprint(i)}
	}
	// A datagram to a second destination is read after the 20: once its
	// setup asks the ACL too, the 20 have been queued or dropped.
	f.in <- packet{tunnel.NameOf("other.invalid", 9), "marker"}
	<-asked
	<-asked
	close(release)
	for i := range 16 {
		if got := f.next(t); got.payload != fmt.Sprint(i) {
			t.Fatalf("reply %d: %q, want them in order", i, got.payload)
		}
	}
	f.Close()
	r.wait(t)
	if r.st.Dropped[tunnel.DropQueue] != 4 || r.st.DgramsUp != 16 {
		t.Errorf("stats %+v: want 16 sent, 4 dropped from the queue", r.st)
	}
}

func TestAssociationLimitsAndEnds(t *testing.T) {
	e := tunnel.New(tunnel.Config{UDP: tunnel.UDPConfig{MaxAssociations: 2, MaxPerClient: 1, IdleTimeout: 50 * time.Millisecond}}, nil)
	f := newFakeClient()
	r := runAssoc(t, e, f)
	if _, err := e.Associate(context.Background(), udpRequest(), newFakeClient()); tunnel.KindOf(err) != tunnel.Overloaded {
		t.Errorf("a second association of the client: %v, want Overloaded", err)
	}
	other := udpRequest()
	other.Client = netip.MustParseAddrPort("127.0.0.2:1")
	a2, err := e.Associate(context.Background(), other, newFakeClient())
	if err != nil {
		t.Fatalf("another client's: %v", err)
	}
	third := udpRequest()
	third.Client = netip.MustParseAddrPort("127.0.0.3:1")
	if _, err := e.Associate(context.Background(), third, newFakeClient()); tunnel.KindOf(err) != tunnel.Overloaded {
		t.Errorf("over max_associations: %v, want Overloaded", err)
	}
	a2.Close()
	// Nothing moves: the idle timeout ends the first.
	r.wait(t)
	if !errors.Is(r.err, tunnel.ErrIdle) {
		t.Errorf("ended with %v, want %v", r.err, tunnel.ErrIdle)
	}
	if n := e.Associations(); n != 0 {
		t.Errorf("%d associations still counted", n)
	}

	// Cancelling the context the association was opened with ends it.
	ctx, cancel := context.WithCancelCause(context.Background())
	a, err := e.Associate(ctx, udpRequest(), newFakeClient())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := a.Run(); done <- err }()
	stop := errors.New("draining")
	cancel(stop)
	select {
	case err := <-done:
		if !errors.Is(err, stop) {
			t.Errorf("ended with %v, want the context's cause", err)
		}
	case <-time.After(bound):
		t.Fatal("the association outlived its context")
	}
}

// A destination that does not resolve drops its datagrams as unreachable;
// Prepare reports its failure with the kind to answer with.
func TestAssociationUnreachable(t *testing.T) {
	e := tunnel.New(tunnel.Config{}, nil)
	f := newFakeClient()
	a, err := e.Associate(context.Background(), udpRequest(), f)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Prepare(tunnel.NameOf("ferry-test.invalid", 53)); tunnel.KindOf(err) != tunnel.DNSFailed {
		t.Errorf("Prepare: %v, want a DNS failure", err)
	}
	if _, err := a.Prepare(tunnel.NameOf("a b", 53)); tunnel.KindOf(err) != tunnel.BadRequest {
		t.Errorf("Prepare of a bad name: %v, want BadRequest", err)
	}
	if _, err := a.Prepare(tunnel.AddrOf(netip.MustParseAddrPort("127.0.0.1:0"))); tunnel.KindOf(err) != tunnel.BadRequest {
		t.Errorf("Prepare of port 0: %v, want BadRequest", err)
	}
}
