package forward

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"

	"github.com/ferry-proxy/ferry/cache"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
)

// MethodPurge removes a URI's responses from the cache (as in Squid and
// Varnish). It is answered by ferry, never forwarded, when a cache is on.
const MethodPurge = "PURGE"

// cached puts the cache in front of next when there is one. The cache is
// an http.RoundTripper around the Client rather than a step of its own,
// so a hit (answered before the Client is asked) never dials, and a miss
// or a revalidation dials through the engine like any forward: one ACL,
// one access log, one error path.
func (f *Forwarder) cached(next http.RoundTripper) http.RoundTripper {
	if f.cache == nil {
		return next
	}
	return &cache.Transport{Cache: f.cache, Next: next, Name: f.cfg.ViaName, Allow: f.cacheAllow, Route: cacheRoute, Report: cacheReport, Unreachable: cacheUnreachable}
}

// cacheRoute is the way r goes out, as the engine routed it before the
// cache is asked: direct, or the upstream or group of its route (the
// access log's upstream). A stored response serves only requests of its
// own way, so a hit never skips a user's parent.
func cacheRoute(r *http.Request) string {
	rt, ok := r.Context().Value(routeKey{}).(*route)
	if !ok || rt.plan.Direct() {
		return cache.RouteDirect // without a route cacheAllow refuses every hit
	}
	return rt.plan.Via
}

// cacheAllow asks the ACL whether this client may reach the address a
// stored response came from, as a dial would: a hit must not get round a
// rule on addresses.
func (f *Forwarder) cacheAllow(r *http.Request, origin netip.AddrPort) bool {
	rt, ok := r.Context().Value(routeKey{}).(*route)
	if !ok {
		return false
	}
	if !origin.IsValid() {
		// Stored from an answer through an upstream, whose origin address
		// ferry never saw: only a request routed through an upstream
		// (whose route step asked the ACL) may have it.
		return !rt.plan.Direct()
	}
	_, err := f.engine.AuthorizeAddr(r.Context(), rt.req, origin.Addr())
	return err == nil
}

// cacheReport puts the cache's Cache-Status parameters in the access log.
func cacheReport(r *http.Request, status string) {
	if rt, ok := r.Context().Value(routeKey{}).(*route); ok {
		rt.mu.Lock()
		rt.rec.Cache = status
		rt.mu.Unlock()
	}
}

// cacheUnreachable notes in the access log why the cache answers 504: the
// origin could not be reached to validate a response that may not be used
// without it (RFC 9111 §5.2.2.2); and gives the answer's Proxy-Status.
func cacheUnreachable(r *http.Request, err error) string {
	if rt, ok := r.Context().Value(routeKey{}).(*route); ok {
		rt.mu.Lock()
		rt.rec.Fail(http.StatusGatewayTimeout, err)
		rt.mu.Unlock()
	}
	return tunnel.ProxyStatus(err)
}

// purge answers PURGE for an absolute URI, after the front end's
// Authorize asked the ACL with method PURGE. Only a rule that allows
// method PURGE lets it through: never the default verdict, whatever the
// client's address, and not a rule that allows the client everything, such
// as config.toml.example's loopback rule: the cache is shared, so emptying
// it is for the clients named for it.
func (f *Forwarder) purge(w http.ResponseWriter, r *http.Request, req *tunnel.Request, rec *accesslog.Record) error {
	if !f.purgeRule(r.Context(), req, rec) {
		return &tunnel.Error{Kind: tunnel.Denied, Err: errPurgeDenied}
	}
	n := f.cache.Purge(r.URL)
	rec.Cache = fmt.Sprintf("purged=%d", n)
	status := http.StatusOK
	msg := fmt.Sprintf("ferry: purged %d stored responses for %s\n", n, r.URL.Redacted())
	if n == 0 {
		status = http.StatusNotFound
		msg = fmt.Sprintf("ferry: nothing stored for %s\n", r.URL.Redacted())
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", fmt.Sprint(len(msg)))
	w.WriteHeader(status)
	rec.Status = status
	n2, _ := fmt.Fprint(w, msg)
	rec.BytesDown = int64(n2)
	return nil
}

var errPurgeDenied = errors.New("PURGE is allowed only by an ACL rule for method PURGE")

// purgeRule reports whether the rule that allowed req (method PURGE) is
// one for that method. The ACL is asked again without a method, which no
// method matcher matches: if the same rule allows that too, it does not
// look at the method. The second verdict is not noted: the access event
// keeps the first.
func (f *Forwarder) purgeRule(ctx context.Context, req *tunnel.Request, rec *accesslog.Record) bool {
	if rec.Decision != tunnel.DecisionAllow || rec.Rule == "" || rec.Rule == "default" {
		return false // the default, or a verdict left open for the address
	}
	probe := *req
	probe.Method = ""
	out, err := f.engine.Authorize(ctx, &probe)
	if err != nil {
		return true // denied without the method: the rule needed it
	}
	return out.Rule != rec.Rule || out.Decision != tunnel.DecisionAllow
}
