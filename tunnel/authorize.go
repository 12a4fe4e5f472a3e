package tunnel

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/ferry-proxy/ferry/acl"
)

// Authorize asks the ACL with what is known before any DNS lookup: the
// name or address, port, protocol, method, user and client. A verdict
// that needs the target's address is left to Open, which asks again with
// every address it dials (or, through an upstream, every address of the
// name); the Outcome is then undecided. Route starts from Authorize's
// verdict: call it first, and not beside another call on the same req
// (it uses req's scratch space, so that it allocates nothing).
func (e *Engine) Authorize(ctx context.Context, req *Request) (Outcome, error) {
	// The query lives in the request, already on the heap: one on the
	// stack would escape through the Decider interface, an allocation
	// per request.
	q := &req.query
	*q = e.query(req)
	v := e.policy.Load().ACL.Decide(q)
	out := Outcome{Rule: v.Rule, Decision: DecisionUndecided} // the address decides: Dial notes its verdict
	if !v.NeedIP {
		out.decided(v.Rule, v.Allow)
	}
	req.authorized = out
	if !v.Allow && !v.NeedIP {
		kind := Denied
		if q.Host == "" {
			kind = DeniedIP
		}
		return out, &Error{Kind: kind, Rule: v.Rule, Err: fmt.Errorf("%s denied by rule %q", req.Target(), v.Rule)}
	}
	return out, nil
}

// AuthorizeAddr asks the ACL whether req may reach ip: for a connection
// dialed for another request and reused (plain HTTP's pool), or a
// destination met after the request was authorized (a datagram's). It
// leaves req as it is, so it may run beside another call on req (the
// cache's background revalidation does): its query is its own.
func (e *Engine) AuthorizeAddr(ctx context.Context, req *Request, ip netip.Addr) (Outcome, error) {
	q := new(acl.Query)
	*q = e.query(req)
	q.IP = ip.Unmap()
	v := e.policy.Load().ACL.Decide(q)
	var out Outcome
	out.decided(v.Rule, v.Allow)
	if !v.Allow {
		return out, &Error{Kind: DeniedIP, Rule: v.Rule, Err: fmt.Errorf("%s denied by rule %q", ip, v.Rule)}
	}
	return out, nil
}

func (e *Engine) query(req *Request) acl.Query {
	q := acl.Query{
		Port:   req.Port,
		Proto:  req.Proto,
		Method: req.Method,
		User:   req.User,
		Client: req.Client.Addr().Unmap(),
		Time:   e.now(),
	}
	if ip, ok := parseIP(req.Host); ok {
		q.IP = ip.Unmap()
	} else {
		q.Host = req.Host
	}
	return q
}

// parseIP parses host as an address. A name fails fast, without the
// error netip.ParseAddr allocates: the ACL and route decisions run on
// every request and allocate nothing (issue 9).
func parseIP(host string) (netip.Addr, bool) {
scan:
	for i := 0; i < len(host); i++ {
		switch c := host[i]; {
		case c == '%':
			break scan // an IPv6 zone may be any name
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F', c == '.', c == ':':
		default:
			return netip.Addr{}, false // a letter past f, a dash...: a name
		}
	}
	ip, err := netip.ParseAddr(host)
	return ip, err == nil
}
