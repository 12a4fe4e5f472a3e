package fleet

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/auth"
)

// Failures counted by one ferry refuse the next guess on another: per
// client address and per user name, this minute; a user's limit spares
// a client the caller says logged in as the user lately.
func TestThrottleAcrossFerries(t *testing.T) {
	srv := startRedis(t)
	a, b := srv.client(t).Throttle(), srv.client(t).Throttle()
	now := time.Date(2026, 12, 7, 10, 0, 10, 0, time.UTC)
	a.now, b.now = func() time.Time { return now }, func() time.Time { return now }
	th := auth.Throttle{ClientFailures: 3, UserFailures: 5}
	ctx := context.Background()
	guesser := netip.MustParsePrefix("192.0.2.7/32")
	for i := range 3 {
		why, _, err := b.Over(ctx, guesser, "alice", th, false)
		if err != nil || why != "" {
			t.Fatalf("guess %d refused early: %q, %v", i, why, err)
		}
		a.Failed(ctx, guesser, "alice")
	}
	why, retry, err := b.Over(ctx, guesser, "alice", th, false)
	if err != nil || !strings.Contains(why, "192.0.2.7/32") || retry != 50*time.Second {
		t.Fatalf("after 3 failures on ferry a, ferry b says %q (retry %v, %v); want the client refused for the rest of the minute", why, retry, err)
	}
	// Two more failures for alice from elsewhere: her user limit (5) is
	// reached, except for a client that logged in as her lately.
	other := netip.MustParsePrefix("198.51.100.0/32")
	a.Failed(ctx, other, "alice")
	a.Failed(ctx, other, "alice")
	if why, _, _ := b.Over(ctx, netip.MustParsePrefix("203.0.113.1/32"), "alice", th, false); !strings.Contains(why, `user "alice"`) {
		t.Errorf("user limit across ferries: %q", why)
	}
	if why, _, _ := b.Over(ctx, netip.MustParsePrefix("203.0.113.1/32"), "alice", th, true); why != "" {
		t.Errorf("user limit applied to a client exempt from it: %q", why)
	}
	if why, _, _ := b.Over(ctx, netip.MustParsePrefix("203.0.113.1/32"), "bob", th, false); why != "" {
		t.Errorf("bob refused: %q", why)
	}
	// A new minute starts afresh.
	now = now.Add(time.Minute)
	if why, _, _ := b.Over(ctx, guesser, "alice", th, false); why != "" {
		t.Errorf("next minute: %q", why)
	}
}
