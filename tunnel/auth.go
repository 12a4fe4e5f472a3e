package tunnel

import (
	"context"
	"fmt"
	"time"
)

// Authenticator checks a user's password; *auth.Users fits. The error is
// only ctx's.
type Authenticator interface {
	Verify(ctx context.Context, user, password string) (bool, error)
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
// are AuthNeeded, answered only after a delay that grows with the
// client's recent failures. On success req.User is set; the front end
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
	ok, err := p.Users.Verify(ctx, c.User, c.Password)
	if err != nil {
		return err
	}
	client := req.Client.Addr()
	if !ok {
		if err := sleepCtx(ctx, e.fails.failed(client)); err != nil {
			return err
		}
		return &Error{Kind: AuthNeeded, Err: fmt.Errorf("proxy authentication failed")}
	}
	e.fails.succeeded(client)
	req.User = c.User
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
