package tunnel

import (
	"context"
	"net/netip"
	"testing"

	"github.com/ferry-proxy/ferry/auth"
)

// fakeUsers knows alice with password "right", and limits nothing.
type fakeUsers struct{}

func (fakeUsers) Verify(_ context.Context, u, p string) (bool, error) {
	return u == "alice" && p == "right", nil
}

func (fakeUsers) Cached(u, p string) bool { return false }

func (fakeUsers) Throttle() auth.Throttle { return auth.Throttle{} }

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
		{"required, wrong", secure, Credentials{true, "alice", "wrong"}, AuthNeeded, ""},
		{"not required, none", open, Credentials{}, OK, ""},
		{"not required, right", open, Credentials{true, "alice", "right"}, OK, "alice"},
		{"not required, wrong", open, Credentials{true, "alice", "wrong"}, AuthNeeded, ""},
		{"no listener in ctx", context.Background(), Credentials{}, OK, ""},
		{"required, client certificate", WithCertUser(secure, "bob"), Credentials{}, OK, "bob"},
		{"client certificate and credentials: the credentials", WithCertUser(secure, "bob"), Credentials{true, "alice", "right"}, OK, "alice"},
		{"client certificate and wrong credentials", WithCertUser(secure, "bob"), Credentials{true, "alice", "wrong"}, AuthNeeded, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &Request{Client: netip.MustParseAddrPort("192.0.2.1:5000")}
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
