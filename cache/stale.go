package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"
)

// maxBackground bounds the background revalidations of
// stale-while-revalidate under way at once; past it a stale response is
// revalidated before it is served, as without the directive.
const maxBackground = 16

// backgroundTimeout bounds one background revalidation, body included.
const backgroundTimeout = 2 * time.Minute

// staleness is how long past its freshness lifetime o is at now;
// negative while it is fresh.
func (o *object) staleness(now time.Time) time.Duration { return o.age(now) - o.lifetime }

// mayServeStale is §4.2.4's first rule: no directive forbids serving o
// stale, neither the response's (no-cache, must-revalidate,
// proxy-revalidate, s-maxage) nor the request's (no-cache).
func mayServeStale(o *object, reqCC Directives) bool {
	return !o.cc.NoCache && !o.mustRevalidate() && !reqCC.NoCache
}

// whileRevalidate reports whether o, stale, may be served at once while it
// is revalidated in the background (RFC 5861 §3). A request that sets its
// own limits (max-age, min-fresh) gets a validated response instead.
func whileRevalidate(o *object, reqCC Directives, now time.Time) bool {
	swr := o.cc.StaleWhileRevalidate
	return swr >= 0 && mayServeStale(o, reqCC) && reqCC.MaxAge < 0 && reqCC.MinFresh < 0 &&
		o.staleness(now) <= seconds(swr)
}

// staleOnError decides whether o may answer req, stale, after the origin
// failed: err from the round trip, or else resp's 500, 502, 503 or 504
// (RFC 5861 §4). It returns the Cache-Status detail, "" if not.
//
// stale-if-error (the response's or the request's) allows it within its
// window. Without it, only failing to reach the origin at all (refused,
// reset, closed, timed out: §4.2.4's "disconnected") does, within
// Config.StaleIfUnreachable, for requests that set no freshness limits
// of their own. A 5xx the origin sent is its answer and is passed on.
func (c *Cache) staleOnError(req *http.Request, reqCC Directives, o *object, resp *http.Response, err error) string {
	if !mayServeStale(o, reqCC) || req.Context().Err() != nil || background(req) {
		return ""
	}
	unreachable := err != nil && isUnreachable(err)
	if err == nil && !serverError(resp.StatusCode) || err != nil && !unreachable {
		return ""
	}
	stale := o.staleness(c.now())
	for _, sie := range []int64{o.cc.StaleIfError, reqCC.StaleIfError} {
		if sie >= 0 && stale <= seconds(sie) {
			return "stale-if-error"
		}
	}
	if limit := c.cfg.StaleIfUnreachable; unreachable && limit > 0 && stale <= limit &&
		reqCC.MaxAge < 0 && reqCC.MinFresh < 0 {
		return "origin-unreachable"
	}
	return ""
}

// validationDirective names the directive of o's own that forbids using
// it without the origin now (§4.2.4): no-cache (§5.2.2.4) always; once o
// is stale, must-revalidate, proxy-revalidate or s-maxage (§5.2.2.2,
// §5.2.2.8, §5.2.2.10). "" when none does.
func (o *object) validationDirective(now time.Time) string {
	switch {
	case o.cc.NoCache:
		return "no-cache"
	case o.staleness(now) < 0:
		return ""
	case o.cc.MustRevalidate:
		return "must-revalidate"
	case o.cc.ProxyRevalidate:
		return "proxy-revalidate"
	case o.cc.SMaxAge >= 0:
		return "s-maxage"
	}
	return ""
}

// unreachable is the 504 a cache "SHOULD generate" when it cannot reach
// the origin to validate o, which its own directives forbid using
// without validation (§5.2.2.2): not the 502 of a miss, as the stored
// response is there but may not be used. nil when that is not why o is
// not served (err is no failure to reach the origin, or the ACL's), or
// there is no client to answer.
func (t *Transport) unreachable(req *http.Request, o *object, err error, fwd string) *http.Response {
	directive := o.validationDirective(t.Cache.now())
	if directive == "" || !isUnreachable(err) || req.Context().Err() != nil || background(req) {
		return nil
	}
	err = fmt.Errorf("the stored response must be revalidated (%s) and the origin could not be reached: %w", directive, err)
	body := "ferry: " + http.StatusText(http.StatusGatewayTimeout) + ": " + err.Error() + "\n"
	resp := t.gatewayTimeout(req, body, "fwd="+fwd+"; detail="+directive)
	if t.Unreachable != nil {
		if ps := t.Unreachable(req, err); ps != "" {
			resp.Header.Set("Proxy-Status", ps)
		}
	}
	return resp
}

// serverError is RFC 5861 §4's "error": a 500, 502, 503 or 504.
func serverError(code int) bool {
	return code == 500 || code == 502 || code == 503 || code == 504
}

// isUnreachable reports whether err means the origin could not be reached
// or stopped answering, by the errno or condition at its root, or an
// error that says it is a timeout. An ACL
// refusal of the address (which may come wrapped in a *net.OpError from a
// dialer's Control hook) is none of these, so it is never answered with
// a stale response.
func isUnreachable(err error) bool {
	var dns *net.DNSError
	var timeout interface{ Timeout() bool }
	if errors.As(err, &dns) || errors.As(err, &timeout) && timeout.Timeout() {
		return true
	}
	for _, cause := range []error{
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		syscall.EHOSTUNREACH, syscall.EHOSTDOWN, syscall.ENETUNREACH, syscall.ETIMEDOUT,
		io.EOF, io.ErrUnexpectedEOF, context.DeadlineExceeded, os.ErrDeadlineExceeded,
	} {
		if errors.Is(err, cause) {
			return true
		}
	}
	return false
}

// serveStale answers req from o, stale, in place of the origin's failure
// (resp, when it sent one, is discarded). nil if o's body is gone.
func (t *Transport) serveStale(req *http.Request, o *object, resp *http.Response, detail string) *http.Response {
	status := "fwd=stale; "
	if resp != nil {
		status += "fwd-status=" + strconv.Itoa(resp.StatusCode) + "; "
	}
	r := t.serve(req, o, o, status+"detail="+detail)
	if r != nil && resp != nil {
		resp.Body.Close()
	}
	return r
}

// backgroundKey marks the context of a background revalidation: it has
// no client to report to or to serve a stale response to.
type backgroundKey struct{}

func background(req *http.Request) bool { return req.Context().Value(backgroundKey{}) != nil }

// reserveRevalidation prepares a background revalidation of o for req
// (RFC 5861 §3) and returns the func that starts it, or nil when
// maxBackground are under way or the cache is closed: then req must
// revalidate o itself. If one is under way for o already, the func does
// nothing.
//
// The revalidation is a GET like req (Range dropped) through Next. Its
// context keeps req's values, so the front end routes it and applies its
// rules as for req, but not req's end: the client has its answer. Close
// cancels it and waits for it.
func (t *Transport) reserveRevalidation(req *http.Request, reqCC Directives, o *object) func() {
	c := t.Cache
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.revalidating[o.id]:
		return func() {}
	case len(c.revalidating) >= maxBackground || c.closing.Err() != nil:
		return nil
	}
	c.revalidating[o.id] = true
	c.wg.Add(1)
	return func() { go t.revalidateInBackground(req, reqCC, o) }
}

func (t *Transport) revalidateInBackground(req *http.Request, reqCC Directives, o *object) {
	c := t.Cache
	ctx, cancel := context.WithTimeout(context.WithValue(context.WithoutCancel(req.Context()), backgroundKey{}, true), backgroundTimeout)
	stop := context.AfterFunc(c.closing, cancel)
	defer func() {
		stop()
		cancel()
		c.mu.Lock()
		delete(c.revalidating, o.id)
		c.mu.Unlock()
		c.wg.Done()
	}()
	bg := req.Clone(ctx)
	bg.Method = http.MethodGet
	bg.Header.Del("Range")
	resp, err := t.revalidate(bg, reqCC, o, "stale")
	if err != nil {
		c.warn("revalidate", err)
		return
	}
	// Read to the end so that a new response is stored; past
	// max_object_size it is not, and need not be read further.
	io.Copy(io.Discard, io.LimitReader(resp.Body, c.maxObject+1))
	resp.Body.Close()
}
