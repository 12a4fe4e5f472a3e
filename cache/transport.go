package cache

import (
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Transport is an http.RoundTripper that answers from Cache when RFC 9111
// allows it and forwards to Next otherwise, storing what may be stored.
// Revalidations go through Next too, so whatever Next enforces on a dial
// applies to them.
type Transport struct {
	Cache *Cache
	Next  http.RoundTripper
	// Name is the cache's name in Cache-Status (RFC 9211); default "ferry".
	Name string
	// Allow reports whether req's client may be given a stored response
	// that came from origin, so that a hit cannot get round a rule on
	// addresses; nil allows all. A stored response is not used when it
	// says no: the request is forwarded and meets the rule at the dial.
	Allow func(req *http.Request, origin netip.AddrPort) bool
	// Route names the way req is fetched when it goes out: RouteDirect,
	// or the upstream or group its route goes through, as decided before
	// the cache is asked. A stored response answers only requests of the
	// route it was fetched by: a hit must not skip the way the client's
	// request would have gone (a filtering parent, one that logs in with
	// credentials of its own). Another route's request is a miss, and its
	// response is stored beside, as a variant of its route. nil: every
	// request is RouteDirect.
	Route func(req *http.Request) string
	// Report receives the Cache-Status parameters of each request (for
	// the access log), and again with "stored" dropped if storing fails
	// before the body's end.
	Report func(req *http.Request, status string)
	// Unreachable is told why the origin could not be reached to
	// validate a stored response that may not be used without it, which
	// the cache answers with 504 (§5.2.2.2), and returns the Proxy-Status
	// member for the answer (RFC 9209), "" for none.
	Unreachable func(req *http.Request, err error) string
}

// RoundTrip serves req (RFC 9111 §4).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return t.forwardMethod(req)
	}
	c := t.Cache
	reqCC := requestDirectives(req.Header)
	ranges, readable := requestRanges(req)
	if !readable || has(req.Header, "Upgrade") || hasContent(req) {
		// A Range ferry does not read (another unit, too many ranges) is
		// the origin's to answer; upgrades are not responses to keep.
		// Content in a GET has no defined meaning (RFC 9110 §9.3.1), but
		// an origin that reads it (a search API) answers per content:
		// keyed by its URI alone, the answer would be another client's.
		return t.bypass(req, reqCC)
	}
	route := t.route(req)
	o, p, found := c.lookup(req, route)
	if o != nil && !t.allowed(req, o) {
		// The client may not reach where o came from: let the dial decide.
		return t.bypass(req, reqCC)
	}
	if o != nil {
		if resp, err := t.answer(req, reqCC, o); resp != nil || err != nil {
			return resp, err
		}
		found = false // its body failed the check and is gone
	} else if ranges != nil && p != nil && !originPreconditions(req) && t.allowed(req, p) && c.usable(p, reqCC, c.now()) == "" {
		// A partial response answers a range it holds whole (§3.3).
		if resp := t.serve(req, p, p, "hit; ttl="+ttl(p, c.now())); resp != nil {
			return resp, nil
		}
	}
	if reqCC.OnlyIfCached {
		return t.notCached(req), nil
	}
	fwd := "uri-miss"
	switch {
	case p != nil:
		fwd = "partial" // RFC 9211: a stored partial response could not answer
	case found:
		fwd = "vary-miss"
	}
	if collapsible(req) {
		f, leader := c.join(routedKey(primaryKey(http.MethodGet, req.URL), route))
		if leader {
			return t.fetch(req, reqCC, fwd, f)
		}
		if f != nil {
			if resp, err := t.follow(req, reqCC, f, fwd); resp != nil || err != nil {
				return resp, err
			}
		}
	}
	return t.fetch(req, reqCC, fwd, nil)
}

// answer serves req with o, a stored complete response that req selects:
// from the store when o may be used as it is (fresh enough, or stale
// within its stale-while-revalidate window, RFC 5861 §3), else by asking
// the origin (§4.3). Neither response nor error: o's body failed its
// check and is gone.
func (t *Transport) answer(req *http.Request, reqCC Directives, o *object) (*http.Response, error) {
	c := t.Cache
	now := c.now()
	fwd := c.usable(o, reqCC, now)
	if fwd == "" && originPreconditions(req) {
		fwd = "request"
	}
	var revalidateLater func()
	if fwd == "stale" && whileRevalidate(o, reqCC, now) {
		if revalidateLater = t.reserveRevalidation(req, reqCC, o); revalidateLater != nil {
			fwd = ""
		}
	}
	switch {
	case fwd == "":
		status := "hit; ttl=" + ttl(o, now)
		if revalidateLater != nil {
			status += "; detail=stale-while-revalidate"
		}
		resp := t.serve(req, o, o, status)
		if revalidateLater != nil {
			// Only now that o's body is open: a new response the
			// revalidation stores cannot take it away from this one.
			revalidateLater()
		}
		return resp, nil
	case reqCC.OnlyIfCached:
		return t.notCached(req), nil
	case req.Method == http.MethodHead:
		return t.head(req, reqCC, o, fwd)
	default:
		return t.revalidate(req, reqCC, o, fwd)
	}
}

// ttl is Cache-Status's ttl of o at now: whole seconds of freshness
// left, negative once stale (RFC 9211 §2.5).
func ttl(o *object, now time.Time) string {
	return strconv.FormatInt(wholeSeconds(o.lifetime-o.age(now)), 10)
}

// requestDirectives are req's Cache-Control. "Pragma: no-cache" counts as
// no-cache when there is no Cache-Control, as HTTP/1.0 clients mean it:
// RFC 9111 §5.4 deprecates Pragma, and RFC 7234 §5.4 gave it this
// meaning. Any member of the list counts, in any case; other pragmas,
// and Pragma in responses (never specified), mean nothing.
func requestDirectives(h http.Header) Directives {
	d := parseCacheControl(h["Cache-Control"])
	if _, ok := h["Cache-Control"]; !ok {
		for _, line := range h["Pragma"] {
			for p := range strings.SplitSeq(line, ",") {
				if strings.EqualFold(strings.Trim(p, " \t"), "no-cache") {
					d.NoCache = true
				}
			}
		}
	}
	return d
}

// usable decides whether o may answer a request with directives reqCC at
// now (§4.2, §5.2.1). It returns "" if so, else the Cache-Status fwd
// reason: "stale" when o needs validation, "request" when the request's
// directives ask for it.
func (c *Cache) usable(o *object, reqCC Directives, now time.Time) string {
	age := o.age(now)
	left := o.lifetime - age
	fresh := left > 0
	staleOK := !o.mustRevalidate() &&
		(reqCC.MaxStaleAny || reqCC.MaxStale >= 0 && -left <= seconds(reqCC.MaxStale))
	switch {
	case o.cc.NoCache, !fresh && !staleOK:
		return "stale"
	case reqCC.NoCache,
		reqCC.MaxAge >= 0 && age > seconds(reqCC.MaxAge),
		reqCC.MinFresh >= 0 && left < seconds(reqCC.MinFresh):
		return "request"
	}
	return ""
}

// route is the way req goes out (see Transport.Route).
func (t *Transport) route(req *http.Request) string {
	if t.Route == nil {
		return RouteDirect
	}
	if r := t.Route(req); r != "" {
		return r
	}
	return RouteDirect
}

func (t *Transport) allowed(req *http.Request, o *object) bool {
	return t.Allow == nil || t.Allow(req, o.Addr)
}

func (t *Transport) report(req *http.Request, status string) {
	if t.Report != nil && !background(req) {
		t.Report(req, status)
	}
}

func (t *Transport) member(status string) string {
	name := t.Name
	if name == "" {
		name = "ferry"
	}
	return name + "; " + status
}

// exchange is the timing and source of one origin round trip.
type exchange struct {
	reqTime, respTime time.Time
	addr              netip.AddrPort
}

// roundTrip forwards req, noting request_time and response_time (§4.2.3)
// and the address the answer came from.
func (t *Transport) roundTrip(req *http.Request) (*http.Response, exchange, error) {
	var mu sync.Mutex
	var addr netip.AddrPort
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if ap, err := netip.ParseAddrPort(info.Conn.RemoteAddr().String()); err == nil {
			mu.Lock()
			addr = ap
			mu.Unlock()
		}
	}}
	out := req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	ex := exchange{reqTime: t.Cache.now()}
	resp, err := t.Next.RoundTrip(out)
	ex.respTime = t.Cache.now()
	mu.Lock()
	ex.addr = addr
	mu.Unlock()
	if err == nil && resp.Header.Get("Date") == "" {
		// RFC 9110 §6.6.1: a recipient with a clock adds the Date a
		// response lacks when it caches or forwards it.
		resp.Header.Set("Date", ex.respTime.UTC().Format(http.TimeFormat))
	}
	return resp, ex, err
}

// bypass forwards a GET or HEAD the cache does not answer; with
// only-if-cached that is a 504, as the origin may not be asked.
func (t *Transport) bypass(req *http.Request, reqCC Directives) (*http.Response, error) {
	if reqCC.OnlyIfCached {
		return t.notCached(req), nil
	}
	return t.forward(req, "fwd=bypass")
}

// forward passes req on untouched by the cache.
func (t *Transport) forward(req *http.Request, status string) (*http.Response, error) {
	t.report(req, status)
	resp, err := t.Next.RoundTrip(req)
	if err == nil {
		resp.Header.Add("Cache-Status", t.member(status))
	}
	return resp, err
}

// forwardMethod forwards a request whose method the cache does not
// answer, and invalidates after an unsafe one (§4.4).
func (t *Transport) forwardMethod(req *http.Request) (*http.Response, error) {
	resp, err := t.forward(req, "fwd=method")
	if err == nil && !safeMethod(req.Method) && resp.StatusCode >= 200 && resp.StatusCode < 400 {
		t.Cache.invalidateAfter(req.URL, resp.Header)
	}
	return resp, err
}

// fetch forwards a miss and stores the response if it may. As the leader
// of flight f it publishes the response head to the followers.
func (t *Transport) fetch(req *http.Request, reqCC Directives, fwd string, f *flight) (*http.Response, error) {
	c := t.Cache
	published := false
	if f != nil {
		defer func() {
			if !published {
				c.publish(f, nil, nil)
			}
		}()
	}
	resp, ex, err := t.roundTrip(req)
	if err != nil {
		t.report(req, "fwd="+fwd)
		return nil, err
	}
	o, fl := t.admit(req, reqCC, resp, ex, "fwd="+fwd)
	if f != nil {
		published = true
		if fl != nil && resp.ContentLength >= 0 {
			c.publish(f, o, fl)
		} else {
			// An unknown length might pass max_object_size midway and
			// leave followers with half a body: let them fetch.
			c.publish(f, nil, nil)
		}
	}
	return resp, nil
}

// admit is a full response from the origin: it is stored if it may be
// (§3), its body teed into the stores as the client reads it, and it is
// marked with Cache-Status.
func (t *Transport) admit(req *http.Request, reqCC Directives, resp *http.Response, ex exchange, fwd string) (*object, *fill) {
	status := fwd + "; fwd-status=" + strconv.Itoa(resp.StatusCode)
	o, f := t.Cache.store(req, reqCC, resp, ex, t.route(req))
	if f != nil {
		unstored := status
		f.report = func(stored bool) {
			if !stored {
				t.report(req, unstored)
			}
		}
		resp.Body = &teeBody{rc: resp.Body, f: f}
		status += "; stored"
	}
	resp.Header.Add("Cache-Status", t.member(status))
	t.report(req, status)
	return o, f
}

// store starts storing resp, fetched by route, if §3 allows and it could
// ever be reused.
func (c *Cache) store(req *http.Request, reqCC Directives, resp *http.Response, ex exchange, route string) (*object, *fill) {
	cc := parseCacheControl(resp.Header["Cache-Control"])
	if storable(req, reqCC, resp, cc) != "" || resp.ContentLength > c.maxObject {
		return nil, nil
	}
	fields, _ := varyFields(resp.Header)
	m := meta{
		Key:      primaryKey(http.MethodGet, req.URL),
		Status:   resp.StatusCode,
		Header:   storedHeader(resp.Header),
		Vary:     varyValues(req.Header, fields),
		ReqTime:  ex.reqTime,
		RespTime: ex.respTime,
		Addr:     ex.addr,
		Route:    route,
	}
	if resp.StatusCode == http.StatusPartialContent {
		return c.storePartial(req, resp, m)
	}
	o := newObject(m, resp.ContentLength, nil)
	if o.lifetime <= 0 && !o.hasValidator() {
		// Stale at once and nothing to revalidate with: a stored copy
		// could only ever be fetched again in full.
		return nil, nil
	}
	f := c.newFill(o, resp.ContentLength)
	if f == nil {
		return nil, nil
	}
	// The complete response makes a stored partial one of its variant
	// needless.
	f.replaces = o.partialID()
	return o, f
}

// hasContent reports whether req carries content: a Content-Length
// above 0, or a body of unknown length (chunked).
func hasContent(req *http.Request) bool {
	return req.ContentLength > 0 || req.ContentLength < 0 && req.Body != nil && req.Body != http.NoBody
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}
