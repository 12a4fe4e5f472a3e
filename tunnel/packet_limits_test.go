package tunnel_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/limit"
	"github.com/ferry-proxy/ferry/tunnel"

	"github.com/ferry-proxy/ferry/internal/testnet"
)

// limitedEngine is an engine that allows everything under the rules rcs
// (defaults filled in).
func limitedEngine(t *testing.T, rcs ...limit.RuleConfig) *tunnel.Engine {
	t.Helper()
	for i := range rcs {
		name, per, tunnels, requests, bytes := rcs[i].Name, rcs[i].Per, rcs[i].Tunnels, rcs[i].Requests, rcs[i].Bytes
		rcs[i].SetDefaults()
		rcs[i].Name, rcs[i].Tunnels, rcs[i].Requests, rcs[i].Bytes = name, tunnels, requests, bytes
		if per != "" {
			rcs[i].Per = per
		}
	}
	set := limit.Compile(rcs, acl.Env{}, "UTC", func(k, msg string) { t.Fatalf("%s: %s", k, msg) })
	e := tunnel.New(tunnel.Config{}, &tunnel.Policy{Limits: set})
	t.Cleanup(e.Close)
	return e
}

// wantLimited fails t unless err is a refusal by the limit named name.
func wantLimited(t *testing.T, err error, name string) {
	t.Helper()
	if tunnel.KindOf(err) != tunnel.Limited || tunnel.LimitOf(err) == nil || tunnel.LimitOf(err).Limit != name {
		t.Fatalf("error %v, want a refusal by limit %q", err, name)
	}
}

// A datagram association is admitted like a tunnel (issue 18 review, High
// 3): it holds a tunnel slot for its life and counts as a request.
func TestAssociationTakesLimits(t *testing.T) {
	e := limitedEngine(t, limit.RuleConfig{Name: "one", Per: limit.PerClient, Tunnels: 1})
	a, err := e.Associate(context.Background(), udpRequest(), newFakeClient())
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Associate(context.Background(), udpRequest(), newFakeClient())
	wantLimited(t, err, "one")
	if n := e.Associations(); n != 1 {
		t.Errorf("%d associations counted after a refusal, want 1", n)
	}
	a.Close()
	b, err := e.Associate(context.Background(), udpRequest(), newFakeClient())
	if err != nil {
		t.Fatalf("the slot was not given back: %v", err)
	}
	b.Close()

	e = limitedEngine(t, limit.RuleConfig{Name: "rate", Per: limit.PerClient, Requests: 1})
	a, err = e.Associate(context.Background(), udpRequest(), newFakeClient())
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	_, err = e.Associate(context.Background(), udpRequest(), newFakeClient())
	wantLimited(t, err, "rate")
}

// An association's datagrams count into its byte quota as they go, both
// ways, and a spent quota ends it with the limit as its error.
func TestAssociationQuotaEnds(t *testing.T) {
	echo := testnet.UDPEcho(t)
	e := limitedEngine(t, limit.RuleConfig{Name: "q", Per: limit.PerRule, Bytes: 4 << 10})
	f := newFakeClient()
	r := runAssoc(t, e, f)
	payload := strings.Repeat("x", 1<<10)
	for range 4 { // 8 KiB both ways: twice the quota
		f.in <- packet{tunnel.AddrOf(echo), payload}
		f.next(t)
	}
	r.wait(t) // the flusher ends it within limit.FlushEvery
	var ex *limit.Exceeded
	if !errors.As(r.err, &ex) || ex.Limit != "q" {
		t.Fatalf("association ended with %v, want the quota", r.err)
	}
	_, err := e.Associate(context.Background(), udpRequest(), newFakeClient())
	wantLimited(t, err, "q")
}

// A BIND is admitted like a tunnel: it holds its slot while it waits and
// while its peer's connection is open.
func TestBindTakesLimits(t *testing.T) {
	e := limitedEngine(t, limit.RuleConfig{Name: "one", Per: limit.PerClient, Tunnels: 1})
	req := func() *tunnel.Request {
		return &tunnel.Request{Proto: tunnel.ProtoSOCKS, Method: "BIND", Host: "127.0.0.1", Port: 21,
			Client: netip.MustParseAddrPort("127.0.0.1:40000")}
	}
	near := netip.MustParseAddr("127.0.0.1")
	b, _, err := e.Bind(context.Background(), req(), near)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = e.Bind(context.Background(), req(), near)
	wantLimited(t, err, "one")

	peer, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	c, _, _, err := b.Accept(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = e.Bind(context.Background(), req(), near)
	wantLimited(t, err, "one") // the accepted connection holds the slot
	c.Close()
	b2, _, err := e.Bind(context.Background(), req(), near)
	if err != nil {
		t.Fatalf("the slot was not given back: %v", err)
	}
	b2.Close()
	b3, _, err := e.Bind(context.Background(), req(), near)
	if err != nil {
		t.Fatalf("Close did not give the slot back: %v", err)
	}
	b3.Close()
}
