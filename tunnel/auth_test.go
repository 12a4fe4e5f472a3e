package tunnel

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"
)

// fakeUsers knows alice with password "right".
type fakeUsers struct{}

func (fakeUsers) Verify(_ context.Context, u, p string) (bool, error) {
	return u == "alice" && p == "right", nil
}

func TestAuthenticate(t *testing.T) {
	e := New(Config{}, &Policy{Users: fakeUsers{}, Listeners: map[string]ListenerPolicy{"secure": {Auth: true}}})
	secure := WithListener(context.Background(), "secure")
	open := WithListener(context.Background(), "open")
	tests := []struct {
		name     string
		ctx      context.Context
		creds    Credentials
		wantKind Kind
		wantUser string
	}{
		{"required, none offered", secure, Credentials{}, AuthNeeded, ""},
		{"required, right", secure, Credentials{true, "alice", "right"}, OK, "alice"},
		{"not required, none", open, Credentials{}, OK, ""},
		{"not required, right", open, Credentials{true, "alice", "right"}, OK, "alice"},
		{"no listener in ctx", context.Background(), Credentials{}, OK, ""},
		{"required, client certificate", WithCertUser(secure, "bob"), Credentials{}, OK, "bob"},
		{"client certificate and credentials: the credentials", WithCertUser(secure, "bob"), Credentials{true, "alice", "right"}, OK, "alice"},
		{"client certificate and wrong credentials", WithCertUser(secure, "bob"), Credentials{true, "alice", "wrong"}, AuthNeeded, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &Request{Client: netip.MustParseAddrPort("192.0.2.1:5000")}
			if tt.wantKind == AuthNeeded && tt.creds.Offered {
				e.fails = newFailLimiter() // a fresh count: the first failure's delay only
			}
			err := e.Authenticate(tt.ctx, req, tt.creds)
			if KindOf(err) != tt.wantKind || req.User != tt.wantUser {
				t.Fatalf("err %v (kind %v), user %q; want kind %v, user %q", err, KindOf(err), req.User, tt.wantKind, tt.wantUser)
			}
		})
	}
	if e.Listener(WithCertUser(secure, "bob")).Auth || !e.Listener(secure).Auth {
		t.Error("a connection with a certificate user should not be asked for credentials again")
	}
}

// TestAuthenticateFailureDelay: wrong passwords are answered after a
// delay that grows per client and is bounded; another client is not held
// up, and a success clears the count. Virtual time (synctest) makes the
// delays exact without sleeping.
func TestAuthenticateFailureDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := New(Config{}, &Policy{Users: fakeUsers{}})
		ctx := context.Background()
		try := func(client, pw string) (time.Duration, Kind) {
			req := &Request{Client: netip.MustParseAddrPort(client)}
			start := time.Now()
			err := e.Authenticate(ctx, req, Credentials{true, "alice", pw})
			return time.Since(start), KindOf(err)
		}
		want := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
			1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second}
		for i, w := range want {
			if d, k := try("192.0.2.1:1", "wrong"); d != w || k != AuthNeeded {
				t.Fatalf("failure %d: waited %v (kind %v), want %v", i+1, d, k, w)
			}
		}
		// Another client (even in the same IPv4 /24) starts at the base.
		if d, _ := try("192.0.2.2:1", "wrong"); d != failBase {
			t.Fatalf("other client waited %v", d)
		}
		// IPv6 clients are grouped by /64.
		try("[2001:db8::1]:1", "wrong")
		if d, _ := try("[2001:db8::2]:1", "wrong"); d != 2*failBase {
			t.Fatalf("same /64 waited %v, want %v", d, 2*failBase)
		}
		// A right password is not delayed and clears the count.
		if d, k := try("192.0.2.1:1", "right"); d != 0 || k != OK {
			t.Fatalf("success waited %v, kind %v", d, k)
		}
		if d, _ := try("192.0.2.1:1", "wrong"); d != failBase {
			t.Fatalf("after success waited %v", d)
		}
		// A client that stays quiet long enough starts over.
		time.Sleep(failForget + time.Second)
		if d, _ := try("192.0.2.2:1", "wrong"); d != failBase {
			t.Fatalf("after a quiet spell waited %v", d)
		}
	})
}

func TestAuthenticateDelayEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := New(Config{}, &Policy{Users: fakeUsers{}})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req := &Request{Client: netip.MustParseAddrPort("192.0.2.1:1")}
		err := e.Authenticate(ctx, req, Credentials{true, "alice", "wrong"})
		if err != context.DeadlineExceeded {
			t.Fatalf("err %v, want the context's", err)
		}
	})
}

func TestFailTableBounded(t *testing.T) {
	l := newFailLimiter()
	l.max = 100
	now := time.Unix(0, 0)
	l.now = func() time.Time { return now }
	for i := range l.max + 500 {
		now = now.Add(time.Millisecond)
		l.failed(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		if len(l.m) > l.max {
			t.Fatalf("table grew to %d", len(l.m))
		}
	}
	// The newest is kept, the stalest went.
	if l.m[clientKey(netip.AddrFrom4([4]byte{10, 0, 0, 0}))] != nil {
		t.Fatal("stalest entry kept")
	}
	last := l.max + 499
	if l.m[clientKey(netip.AddrFrom4([4]byte{10, byte(last >> 16), byte(last >> 8), byte(last)}))] == nil {
		t.Fatal("newest entry lost")
	}
}
