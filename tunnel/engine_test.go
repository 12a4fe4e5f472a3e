package tunnel_test

import (
	"context"
	"fmt"
	"github.com/ferry-proxy/ferry/internal/testnet"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/tunnel"
)

// decideFunc is an acl.Decider from a func; safe for concurrent use when f is.
type decideFunc func(q *acl.Query) acl.Verdict

func (f decideFunc) Decide(q *acl.Query) acl.Verdict { return f(q) }

// listen returns a loopback listener that accepts and counts connections.
func listen(t testing.TB) (addr netip.AddrPort, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), accepted
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) netip.AddrPort {
	return netip.MustParseAddrPort(testnet.Refused(t))
}

func request(host string, port uint16) *tunnel.Request {
	return &tunnel.Request{
		Proto:  tunnel.ProtoConnect,
		Client: netip.MustParseAddrPort("127.0.0.1:40000"),
		Host:   host,
		Port:   port,
	}
}

func TestDialSuccessFillsLog(t *testing.T) {
	addr, _ := listen(t)
	e := tunnel.New(tunnel.Config{}, nil)
	req := request("127.0.0.1", addr.Port())
	if _, err := e.Authorize(context.Background(), req); err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	c, out, err := e.Open(context.Background(), req)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	if _, ok := c.(*net.TCPConn); !ok {
		t.Errorf("Dial returned %T, want *net.TCPConn so the relay can splice", c)
	}
	if out.Route != "direct" || out.Dialed != addr.String() || out.Decision != "allow" || out.Rule != "default" {
		t.Errorf("log = route %q dialed %q decision %q rule %q; want direct, %s, allow, default",
			out.Route, out.Dialed, out.Decision, out.Rule, addr)
	}
}

// A failed dial's outcome names the address that did not answer; a retry
// (reverse pools, upstream failover) gets an outcome of its own naming the
// address that answered.
func TestDialAfterFailureLogsTheAnswer(t *testing.T) {
	addr, _ := listen(t)
	refused := closedPort(t)
	e := tunnel.New(tunnel.Config{}, nil)
	req := request("127.0.0.1", refused.Port())
	c, out, err := e.Open(context.Background(), req)
	if err == nil {
		c.Close()
		t.Fatal("Dial to a closed port succeeded")
	}
	if !out.DialFailed || out.Dialed != refused.String() {
		t.Fatalf("after the refusal: dialed %q, failed %v; want %s, true", out.Dialed, out.DialFailed, refused)
	}
	req.Port = addr.Port()
	c, out, err = e.Open(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if out.DialFailed || out.Dialed != addr.String() {
		t.Fatalf("after the retry: dialed %q, failed %v; want %s, false", out.Dialed, out.DialFailed, addr)
	}
}

func TestDialErrorKinds(t *testing.T) {
	refused := closedPort(t)
	tests := []struct {
		name   string
		host   string
		port   uint16
		want   tunnel.Kind
		dialed string // the log's address tried
	}{
		{"refused", "127.0.0.1", refused.Port(), tunnel.Refused, refused.String()},
		// RFC 6761 §6.4: .invalid never resolves.
		{"dns", "ferry-test.invalid", 80, tunnel.DNSFailed, ""},
	}
	e := tunnel.New(tunnel.Config{DialTimeout: 5 * time.Second}, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request(tt.host, tt.port)
			c, out, err := e.Open(context.Background(), req)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if k := tunnel.KindOf(err); k != tt.want {
				t.Errorf("KindOf(%v) = %v, want %v", err, k, tt.want)
			}
			if out.Dialed != tt.dialed {
				t.Errorf("log dialed %q, want %q", out.Dialed, tt.dialed)
			}
		})
	}
}

func TestAuthorizeDeniesByName(t *testing.T) {
	e := tunnel.New(tunnel.Config{}, &tunnel.Policy{ACL: decideFunc(func(q *acl.Query) acl.Verdict {
		return acl.Verdict{Allow: q.Host != "blocked.example", Rule: "no-blocked"}
	})})
	req := request("blocked.example", 443)
	out, err := e.Authorize(context.Background(), req)
	if k := tunnel.KindOf(err); k != tunnel.Denied {
		t.Fatalf("Authorize = %v (kind %v), want Denied", err, k)
	}
	if tunnel.RuleOf(err) != "no-blocked" || out.Decision != "deny" || out.Rule != "no-blocked" {
		t.Errorf("rule %q, log %q/%q; want no-blocked, deny/no-blocked", tunnel.RuleOf(err), out.Decision, out.Rule)
	}
	if _, err := e.Authorize(context.Background(), request("ok.example", 443)); err != nil {
		t.Errorf("Authorize(ok.example) = %v", err)
	}
}

// A verdict that needs the address is taken in the dialer's Control hook,
// before connect(2): a denied address is never connected to.
func TestDialDeniesByIPBeforeConnect(t *testing.T) {
	addr, accepted := listen(t)
	var asked atomic.Int64
	e := tunnel.New(tunnel.Config{}, &tunnel.Policy{ACL: decideFunc(func(q *acl.Query) acl.Verdict {
		if !q.IP.IsValid() {
			return acl.Verdict{NeedIP: true}
		}
		asked.Add(1)
		return acl.Verdict{Allow: !q.IP.IsLoopback(), Rule: "no-loopback"}
	})})
	req := request("localhost", addr.Port())
	if _, err := e.Authorize(context.Background(), req); err != nil {
		t.Fatalf("Authorize = %v, want nil (undecided until the IP is known)", err)
	}
	c, out, err := e.Open(context.Background(), req)
	if err == nil {
		c.Close()
		t.Fatal("Dial to a denied address succeeded")
	}
	if k := tunnel.KindOf(err); k != tunnel.DeniedIP {
		t.Errorf("KindOf(%v) = %v, want DeniedIP", err, k)
	}
	if asked.Load() == 0 || out.Decision != "deny" || out.Rule != "no-loopback" {
		t.Errorf("asked %d times, log %q/%q; want ≥1, deny/no-loopback", asked.Load(), out.Decision, out.Rule)
	}
	// Prove the listener is alive and would have counted a connect.
	probe, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	probe.SetReadDeadline(time.Now().Add(bound))
	probe.Read(make([]byte, 1)) // returns when the listener has accepted and closed it
	probe.Close()
	if n := accepted.Load(); n != 1 {
		t.Errorf("listener accepted %d connections, want only the probe's", n)
	}
}

// Dials share one policy and may run the Control hook concurrently (Happy
// Eyeballs races the address families); run under -race.
func TestDialConcurrent(t *testing.T) {
	addr, _ := listen(t)
	var asked atomic.Int64
	e := tunnel.New(tunnel.Config{}, &tunnel.Policy{ACL: decideFunc(func(q *acl.Query) acl.Verdict {
		if !q.IP.IsValid() {
			return acl.Verdict{NeedIP: true}
		}
		asked.Add(1)
		return acl.Verdict{Allow: true, Rule: "ip"}
	})})
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := request("localhost", addr.Port())
			c, out, err := e.Open(context.Background(), req)
			if err != nil {
				errs <- err
				return
			}
			c.Close()
			if out.Rule != "ip" {
				errs <- fmt.Errorf("logged rule %q, want ip", out.Rule)
			}
		}()
		// Swap the policy while dials run: each dial keeps the one it loaded.
		e.SetPolicy(&tunnel.Policy{ACL: decideFunc(func(q *acl.Query) acl.Verdict {
			if !q.IP.IsValid() {
				return acl.Verdict{NeedIP: true}
			}
			asked.Add(1)
			return acl.Verdict{Allow: true, Rule: "ip"}
		})})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if asked.Load() < n {
		t.Errorf("ACL asked %d times for %d dials", asked.Load(), n)
	}
}
