package connect

import (
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
	_, err := s.engine.CheckIP(fw.req, origin.Addr())
	return err == nil
}

// cacheReport puts the cache's Cache-Status parameters in the access log.
func (s *Server) cacheReport(r *http.Request, status string) {
	if fw, ok := r.Context().Value(forwardKey{}).(*forward); ok && fw.req.Log != nil {
		fw.req.Log.Cache = status
	}
}

// servePurge answers PURGE for an absolute URI, after Authorize has asked
// the ACL with method PURGE. An ACL rule can allow it for any client; when
// only the default verdict allowed it (the allow-all policy included),
// only a loopback client may purge.
func (s *Server) servePurge(w http.ResponseWriter, r *http.Request, rec *accesslog.Record) {
	if (rec.Rule == "" || rec.Rule == "default") && !clientAddr(r).Addr().Unmap().IsLoopback() {
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

var errPurgeDenied = errors.New("PURGE is allowed from loopback clients, or by an ACL rule for method PURGE")
