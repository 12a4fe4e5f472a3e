package tunnel_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"testing"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/limit"
	"github.com/ferry-proxy/ferry/tunnel"
)

// quotaTicket admits one request under a per-rule byte quota of max.
func quotaTicket(t *testing.T, max int64) *limit.Ticket {
	t.Helper()
	rc := limit.RuleConfig{}
	rc.SetDefaults()
	rc.Name, rc.Per, rc.Bytes = "q", limit.PerRule, limit.ByteSize(max)
	set := limit.Compile([]limit.RuleConfig{rc}, acl.Env{}, "UTC", func(k, msg string) { t.Fatalf("%s: %s", k, msg) })
	l := limit.NewLimiter(limit.Options{})
	t.Cleanup(l.Close)
	tk, err := l.Admit(context.Background(), set, &acl.Query{Host: "a", Port: 1, Proto: "connect", Client: netip.MustParseAddr("192.0.2.1")})
	if err != nil || tk.Meter() == nil {
		t.Fatalf("admit: %v, %v", tk, err)
	}
	return tk
}

// A tunnel under a quota still splices (the limits wrapper is unwrapped
// like an upstream's), and its meter counts every byte both ways.
func TestLimitedTunnelSplicesAndCounts(t *testing.T) {
	tk := quotaTicket(t, 1<<40)
	client, pc := tcpPair(t)
	ps, server := tcpPair(t)
	before := tunnel.SplicedChunks()
	w := startRelayOn(t, client, server, pc, tunnel.HoldLimits(ps, tk), 0)
	up, down := pattern(1<<20, 8), pattern(300<<10, 3)
	got := make(chan []byte, 1)
	go func() { got <- readAll(t, w.server) }()
	if err := writeAndCloseWrite(w.client, up); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, up) {
		t.Fatalf("server got %d bytes, want %d", len(b), len(up))
	}
	if err := writeAndCloseWrite(w.server, down); err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, w.client); !bytes.Equal(b, down) {
		t.Fatalf("client got %d bytes, want %d", len(b), len(down))
	}
	w.wait(t)
	if after := tunnel.SplicedChunks(); after <= before {
		t.Errorf("SplicedChunks %d → %d: a limited tunnel did not splice", before, after)
	}
	if n := tk.Meter().Count(); n != int64(len(up)+len(down)) {
		t.Errorf("meter counted %d bytes, want %d", n, len(up)+len(down))
	}
}

// A spent quota ends a running tunnel with the limit as its error.
func TestQuotaEndsRelay(t *testing.T) {
	tk := quotaTicket(t, 1<<20)
	client, pc := tcpPair(t)
	ps, server := tcpPair(t)
	w := startRelayOn(t, client, server, pc, tunnel.HoldLimits(ps, tk), 0)
	go func() {
		chunk := pattern(64<<10, 1)
		for range 1024 { // 64 MiB at most
			if _, err := w.server.Write(chunk); err != nil {
				return
			}
		}
	}()
	n, _ := io.Copy(io.Discard, w.client)
	res := w.wait(t)
	var e *limit.Exceeded
	if !errors.As(res.err, &e) || e.Limit != "q" {
		t.Fatalf("relay ended with %v, want the quota", res.err)
	}
	if n >= 64<<20 {
		t.Errorf("the client read all %d bytes: the quota did not stop the relay", n)
	}
}
