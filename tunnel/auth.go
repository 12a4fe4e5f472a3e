package tunnel

import (
	"context"
	"net/netip"

	"github.com/ferry-proxy/ferry/auth"
)

// Authenticator checks users' passwords; *auth.Users fits.
type Authenticator interface {
	// Cached reports whether user:password was verified lately, at the
	// cost of no password hash.
	Cached(user, password string) bool
	// Verify checks password against user's hash. The error is only ctx's.
	Verify(ctx context.Context, user, password string) (bool, error)
	// Throttle is how the engine limits failed logins (limiter.go).
	Throttle() auth.Throttle
}

type listenerKey struct{}

// WithListener marks ctx as belonging to a connection accepted on the
// listener called name; front ends read it with ListenerOf.
func WithListener(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, listenerKey{}, name)
}

// ListenerOf is the listener name in ctx, "" when none.
func ListenerOf(ctx context.Context) string {
	name, _ := ctx.Value(listenerKey{}).(string)
	return name
}

// Listener is the current policy of the listener ctx was accepted on. A
// connection whose client certificate named a user (CertUserOf) has
// authenticated already: Auth is false for it.
func (e *Engine) Listener(ctx context.Context) ListenerPolicy {
	lp := e.policy.Load().Listeners[ListenerOf(ctx)]
	if CertUserOf(ctx) != "" {
		lp.Auth = false
	}
	return lp
}

type certUserKey struct{}

// WithCertUser marks ctx as belonging to a connection whose verified client
// certificate names user (a TLS listener with cert_user set).
func WithCertUser(ctx context.Context, user string) context.Context {
	if user == "" {
		return ctx
	}
	return context.WithValue(ctx, certUserKey{}, user)
}

// CertUserOf is the user named by the connection's client certificate, ""
// when none.
func CertUserOf(ctx context.Context) string {
	u, _ := ctx.Value(certUserKey{}).(string)
	return u
}

// HasUsers reports whether any user can authenticate.
func (e *Engine) HasUsers() bool { return e.policy.Load().Users != nil }

// Credentials are what a client offered: none, or a user and password.
type Credentials struct {
	Offered  bool
	User     string
	Password string
}

// Authenticate decides who req is. With no credentials it is the user
// its client certificate names, if any, else anonymous, unless the
// listener requires credentials (AuthNeeded). Credentials offered are
// checked even where not required, so that user rules apply; wrong ones
// are AuthNeeded. Credentials verified lately pass at once; any other
// check must first pass the limiter (limiter.go), which refuses it
// unchecked (Throttled, with RetryAfterOf, answered only after a hold)
// when its client or user name failed too often or its client has too
// many checks in progress. On success req.User is set; the front end
// copies it into its record.
func (e *Engine) Authenticate(ctx context.Context, req *Request, c Credentials) error {
	p := e.policy.Load()
	lp := p.Listeners[ListenerOf(ctx)]
	if !c.Offered || p.Users == nil {
		if u := CertUserOf(ctx); u != "" {
			// The client certificate authenticated the connection.
			req.User = u
			return nil
		}
		if lp.Auth {
			return Errorf(AuthNeeded, "proxy authentication required")
		}
		return nil
	}
	client := req.Client.Addr()
	if !p.Users.Cached(c.User, c.Password) || !e.fails.mayskip(client, c.User) {
		if err := e.checkPassword(ctx, p.Users, client, c); err != nil {
			return err
		}
	}
	req.User = c.User
	return nil
}

// checkPassword verifies c's password if the limiter admits the attempt.
func (e *Engine) checkPassword(ctx context.Context, users Authenticator, client netip.Addr, c Credentials) error {
	a, err := e.fails.admit(ctx, client, c.User, users.Throttle())
	if err != nil {
		return hold(ctx, err)
	}
	if err := e.sharedOver(ctx, a, c.User); err != nil {
		a.done(unchecked)
		return hold(ctx, err)
	}
	ok, err := users.Verify(ctx, c.User, c.Password)
	switch {
	case err != nil:
		a.done(unchecked)
		return err
	case !ok:
		e.sharedFailed(ctx, a, c.User)
		a.done(failed)
		return Errorf(AuthNeeded, "proxy authentication failed")
	}
	a.done(verified)
	return nil
}
