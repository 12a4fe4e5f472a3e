package tunnel_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testnet"
	"github.com/ferry-proxy/ferry/tunnel"
)

func TestDialTimeout(t *testing.T) {
	hole := netip.MustParseAddrPort(testnet.Blackhole(t))
	e := tunnel.New(tunnel.Config{DialTimeout: 150 * time.Millisecond}, nil)
	c, _, err := e.Open(context.Background(), request("127.0.0.1", hole.Port()))
	if err == nil {
		c.Close()
		t.Fatal("Dial to a blackhole succeeded")
	}
	if k := tunnel.KindOf(err); k != tunnel.Timeout {
		t.Errorf("KindOf(%v) = %v, want Timeout", err, k)
	}
}
