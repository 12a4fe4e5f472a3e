package tunnel

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/ferry-proxy/ferry/limit"
)

// Limits (issue 18 item 2): after the ACL allowed a request and before it
// is dialed, the [[limit]] rules of the policy (Policy.Limits) admit it or
// refuse it (Limited: 429 with Retry-After, SOCKS5 0x02). An admitted
// tunnel holds a limit.Ticket until it ends: the engine hands its conn out
// wrapped in a limitedConn, whose Close gives the ticket back and whose
// Meter the relay counts bytes into (unwrapping it to splice, as it does
// an upstream's countedConn).

// SetLimiter sets the limiter the policy's limits are applied with: a
// shared one for a fleet (Redis). Without one the engine makes an
// in-process one when a policy first has limits. Call before serving.
func (e *Engine) SetLimiter(l *limit.Limiter) {
	if old := e.limiter.Swap(l); old != nil && old != l {
		old.Close()
	}
}

// needLimiter makes the in-process limiter when p has limits and the
// engine has no limiter yet.
func (e *Engine) needLimiter(p *Policy) {
	if p.Limits == nil || e.limiter.Load() != nil {
		return
	}
	if l := limit.NewLimiter(limit.Options{}); !e.limiter.CompareAndSwap(nil, l) {
		l.Close()
	}
}

// LimitStats calls f with each limit rule's counters.
func (e *Engine) LimitStats(f func(rule string, s *limit.RuleStats)) {
	if l := e.limiter.Load(); l != nil {
		l.Stats(f)
	}
}

// Admit applies the limits to req, which Authorize has allowed: nil, nil
// when none applies (and always without [[limit]] rules); a ticket the
// caller must end with Done once the request is over; or a Limited error
// naming the limit. Open admits tunnels itself; the plain-HTTP front end
// asks for each request.
func (e *Engine) Admit(ctx context.Context, req *Request) (*limit.Ticket, error) {
	set := e.policy.Load().Limits
	if set == nil {
		return nil, nil
	}
	q := e.query(req)
	t, err := e.limiter.Load().Admit(ctx, set, &q) // SetPolicy made one
	if err != nil {
		return nil, &Error{Kind: Limited, Err: err}
	}
	return t, nil
}

// HoldLimits makes c hold t, a ticket from Admit, as a conn Open returns
// does: closing c ends t, and a relay counts c's bytes into t's meter. A
// front end uses it for a conn it took over from a request (a 101
// upgrade). A nil t leaves c as it is.
func HoldLimits(c net.Conn, t *limit.Ticket) net.Conn { return limited(c, t) }

// limited wraps c so that closing it ends t; nil t leaves c as it is.
func limited(c net.Conn, t *limit.Ticket) net.Conn {
	if t == nil {
		return c
	}
	return &limitedConn{Conn: c, t: t}
}

// limitedConn is a tunnel's conn to its target, holding its limits.
type limitedConn struct {
	net.Conn
	t    *limit.Ticket
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(c.t.Done)
	return c.Conn.Close()
}

// CloseWrite half-closes the conn under it.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// NetConn is the conn under the limits.
func (c *limitedConn) NetConn() net.Conn { return c.Conn }

// meterOf is the quota meter of a tunnel's streams, nil when none.
func meterOf(ss ...Stream) *limit.Meter {
	for _, s := range ss {
		if lc, ok := s.(*limitedConn); ok {
			return lc.t.Meter()
		}
	}
	return nil
}

// LimitOf is the limit a refusal or an ended tunnel names; nil for other
// errors.
func LimitOf(err error) *limit.Exceeded {
	var e *limit.Exceeded
	if errors.As(err, &e) {
		return e
	}
	return nil
}
