package connect

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

// originTransport is what ReverseProxy forwards through: the pooled
// origin transport, behind the cache when there is one. The cache is an
// http.RoundTripper around the transport rather than a step in
// serveForward, so a hit (answered before the transport is asked) never
// dials, and a miss or a revalidation dials through dialOrigin and the
// engine like any forward: one ACL, one access log, one error path. Under
// the cache, routeTransport picks the direct transport or an upstream's.
func (s *Server) originTransport() http.RoundTripper {
	if s.cfg.Cache == nil {
		return routeTransport{s}
	}
	return &cache.Transport{
		Cache:  s.cfg.Cache,
		Next:   routeTransport{s},
		Name:   s.cfg.ViaName,
		Allow:  s.cacheAllow,
		Report: s.cacheReport,
	}
}

// cacheAllow asks the ACL whether this client may reach the address a
// stored response came from, as a dial would: a hit must not get round a
// rule on addresses.
func (s *Server) cacheAllow(r *http.Request, origin netip.AddrPort) bool {
	fw, ok := r.Context().Value(forwardKey{}).(*forward)
	if !ok {
		return false
	}
	if !origin.IsValid() {
		// Stored from an answer through an upstream, whose origin address
		// ferry never saw: only a request routed through an upstream
		// (whose route step asked the ACL) may have it.
		return fw.plan != nil && !fw.plan.Direct()
	}
	_, err := s.engine.AuthorizeAddr(r.Context(), fw.req, origin.Addr())
	return err == nil
}

// cacheReport puts the cache's Cache-Status parameters in the access log.
func (s *Server) cacheReport(r *http.Request, status string) {
	if fw, ok := r.Context().Value(forwardKey{}).(*forward); ok {
		fw.rec.Cache = status
	}
}

// servePurge answers PURGE for an absolute URI, after Authorize has asked
// the ACL with method PURGE. Only a rule that allows method PURGE lets it
// through (issue 7: "allowed by an ACL rule only"): never the default
// verdict, whatever the client's address, and not a rule that allows the
// client everything, such as config.toml.example's loopback rule: the
// cache is shared, so emptying it is for the clients named for it.
func (s *Server) servePurge(w http.ResponseWriter, r *http.Request, req *tunnel.Request, rec *accesslog.Record) {
	if !s.purgeRule(r.Context(), req, rec) {
		fail(w, rec, &tunnel.Error{Kind: tunnel.Denied, Err: errPurgeDenied})
		return
	}
	n := s.cfg.Cache.Purge(r.URL)
	rec.Cache = fmt.Sprintf("purged=%d", n)
	status := http.StatusOK
	msg := fmt.Sprintf("ferry: purged %d stored responses for %s\n", n, r.URL.Redacted())
	if n == 0 {
		status = http.StatusNotFound
		msg = fmt.Sprintf("ferry: nothing stored for %s\n", r.URL.Redacted())
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	rec.Status = status
	fmt.Fprint(w, msg)
}

var errPurgeDenied = errors.New("PURGE is allowed only by an ACL rule for method PURGE")

// purgeRule reports whether the rule that allowed req (method PURGE) is
// one for that method. The ACL is asked again without a method, which no
// method matcher matches: if the same rule allows that too, it does not
// look at the method. The second verdict is not noted: the access event
// keeps the first.
func (s *Server) purgeRule(ctx context.Context, req *tunnel.Request, rec *accesslog.Record) bool {
	if rec.Decision != tunnel.DecisionAllow || rec.Rule == "" || rec.Rule == "default" {
		return false // the default, or a verdict left open for the address
	}
	probe := *req
	probe.Method = ""
	out, err := s.engine.Authorize(ctx, &probe)
	if err != nil {
		return true // denied without the method: the rule needed it
	}
	return out.Rule != rec.Rule || out.Decision != tunnel.DecisionAllow
}
