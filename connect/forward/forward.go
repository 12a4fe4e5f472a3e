package forward

import (
	"io"
	"maps"
	"net/http"
	"net/textproto"
	"strings"
	"sync"

	"github.com/ferry-proxy/ferry/cache"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
)

// Forwarder forwards plain-HTTP proxy requests (absolute-form, RFC 9112
// §3.2.2) that a front end has authenticated and authorized: it routes
// them, rewrites them as a proxy must, sends them through the cache and
// the Client, and copies the response back. It is independent of the
// front end's protocol: it reads an *http.Request and writes an
// http.ResponseWriter.
type Forwarder struct {
	cfg    Config
	engine *tunnel.Engine
	client *Client
	next   http.RoundTripper // the cache in front of the client, or the client
	cache  *cache.Cache
	via11  string
	// reqVia11 is the Via of a request sent on, via11 with the fleet
	// member's token when there is a fleet (fleet.go).
	reqVia11 string
	peers    *peers // the fleet's members, when the cache is shared (fleet.go)
}

// New returns a Forwarder dialing through engine.
func New(cfg Config, engine *tunnel.Engine) *Forwarder {
	cfg.setDefaults(engine.IdleTimeout())
	f := &Forwarder{cfg: cfg, engine: engine, cache: cfg.Cache, via11: "1.1 " + cfg.ViaName}
	f.reqVia11 = f.via11
	f.client = &Client{engine: engine, responseTimeout: cfg.ResponseTimeout, idle: engine.IdleTimeout(),
		pool: pool{maxIdle: cfg.MaxIdleConns, maxIdlePerKey: cfg.MaxIdlePerHost, idleTimeout: cfg.OriginIdleTimeout}}
	f.next = f.cached(f.client)
	return f
}

// Close closes the idle outbound conns; those in use close as their
// responses end.
func (f *Forwarder) Close() { f.client.pool.closeIdle(true) }

// Serve forwards r, whose access record is rec, and writes the answer on
// w. A refusal or a failure before any response byte is returned, for the
// front end to answer (it has not written to w); after the response head
// has gone out, an error means the response was cut short. A 101 answer
// is written and returned as *Upgraded: the front end relays the switched
// conns with the engine.
func (f *Forwarder) Serve(w http.ResponseWriter, r *http.Request, req *tunnel.Request, rec *accesslog.Record) (*Upgraded, error) {
	if r.URL.Scheme != "http" && r.URL.Scheme != "https" {
		return nil, tunnel.Errorf(tunnel.BadRequest, "unsupported scheme %q", r.URL.Scheme)
	}
	if err := checkTarget(r.RequestURI); err != nil {
		return nil, err
	}
	if r.Method == MethodPurge && f.cache != nil {
		return nil, f.purge(w, r, req, rec)
	}
	if err := checkExpect(r); err != nil {
		return nil, err
	}
	if answerLastHop(w, r, rec) {
		return nil, nil
	}
	fromMember := f.FromMember(r, req.Client)
	who, err := f.memberClient(r, req, fromMember)
	r.Header.Del(FleetHopHeader) // believed or not, it goes no further
	if err != nil {
		return nil, err
	}
	plan, out, err := f.engine.Route(r.Context(), who)
	rec.Note(out)
	if err != nil {
		return nil, err
	}
	ex := &response{w: w, via: f.via}
	rt := &route{req: who, plan: plan, rec: rec, got1xx: ex.got1xx}
	// The request's context ends with the front end's serving of it:
	// nothing started here outlives that.
	ctx := withRoute(r.Context(), rt)
	if err := f.looped(r.Header); err != nil {
		return nil, err
	}
	f.rewriteRequest(r, req.Client)
	if r.ContentLength == 0 {
		r.Body = nil
	}
	res, err := f.roundTrip(r.WithContext(ctx), rt, fromMember)
	rec.Note(rt.outcome())
	ex.final()
	if err != nil {
		return nil, err
	}
	rec.Status = res.StatusCode
	f.rewriteResponse(res)
	passFailure(res, rt, rec)
	if up, ok := res.Body.(*Upgraded); ok {
		copyHeader(w.Header(), res.Header)
		w.WriteHeader(res.StatusCode)
		return up, nil
	}
	return nil, f.copyResponse(w, res, rec)
}

// passFailure notes why an upstream's 5xx that is passed on failed, when
// the upstream said (route.answered), as ferry notes its own failures: in
// the access line's proxy_status and err, and in a Proxy-Status member of
// ferry's after the upstream's (RFC 9209 §2: the intermediary nearest the
// client last), with next-hop and received-status. A squid parent says it
// only in X-Squid-Error: this member is then the client's only word.
func passFailure(res *http.Response, rt *route, rec *accesslog.Record) {
	failed := rt.answerFailure()
	if _, received := tunnel.NextHopOf(failed); failed == nil || received != res.StatusCode {
		return // not the upstream's answer (a stale copy the cache served instead)
	}
	rec.ProxyStatus, rec.Err = tunnel.KindOf(failed).ProxyStatus(), failed
	res.Header.Add("Proxy-Status", tunnel.ProxyStatus(failed))
}

// copyResponse writes res to w: its head, its body as it comes (flushed
// at once for server-sent events and bodies of unknown length), and its
// trailer fields that may pass (FilterTrailers).
func (f *Forwarder) copyResponse(w http.ResponseWriter, res *http.Response, rec *accesslog.Record) error {
	defer res.Body.Close()
	dst := w.Header()
	copyHeader(dst, res.Header)
	if _, ok := res.Header["Content-Type"]; !ok {
		// A proxy passes the origin's message as it is (RFC 9110 §8.3:
		// without a Content-Type the recipient may guess, not the
		// intermediary).
		dst["Content-Type"] = nil
	}
	w.WriteHeader(res.StatusCode)
	rc := http.NewResponseController(w)
	streaming := isStreaming(res)
	if streaming {
		rc.Flush()
	}
	n, err := copyBody(w, res.Body, rc, streaming)
	rec.BytesDown += n
	if err != nil {
		return err
	}
	if t, ok := res.Body.(interface{ Trailer() http.Header }); ok && len(t.Trailer()) > 0 {
		tr := t.Trailer().Clone()
		FilterTrailers(tr)
		for k, vv := range tr {
			for _, v := range vv {
				dst.Add(http.TrailerPrefix+k, v)
			}
		}
	}
	return nil
}

func copyHeader(dst, src http.Header) {
	n := 0
	for _, vv := range src {
		n += len(vv)
	}
	// One array for the values of every field new to dst, each field's
	// slice capped so that adding to it later cannot run into the next.
	values := make([]string, 0, n)
	for k, vv := range src {
		if len(dst[k]) > 0 || len(vv) == 0 {
			dst[k] = append(dst[k], vv...)
			continue
		}
		i := len(values)
		values = append(values, vv...)
		dst[k] = values[i:len(values):len(values)]
	}
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyBody copies a response body to the client through a pooled buffer,
// flushing after each write when streaming.
func copyBody(w io.Writer, body io.Reader, rc *http.ResponseController, streaming bool) (int64, error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	var total int64
	for {
		nr, rerr := body.Read(buf)
		if nr > 0 {
			nw, werr := w.Write(buf[:nr])
			total += int64(nw)
			if werr != nil {
				return total, werr
			}
			if streaming {
				rc.Flush()
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// isStreaming tells whether a response must reach the client as it comes:
// server-sent events, or a body of unknown length.
func isStreaming(res *http.Response) bool {
	if res.ContentLength == -1 {
		return true
	}
	base, _, _ := strings.Cut(res.Header.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(base), "text/event-stream")
}

// response passes the origin's interim (1xx) responses to the client until
// the final one is in (RFC 9110 §15.2). 100 Continue is the front end's to
// send, when the request body is first read: forwarding the origin's too
// would give the client two.
type response struct {
	w    http.ResponseWriter
	via  func(major, minor int) string // Forwarder.via
	mu   sync.Mutex
	done bool
}

// got1xx passes on an interim response received on HTTP/major.minor.
func (x *response) got1xx(code, major, minor int, header textproto.MIMEHeader) {
	if code == http.StatusContinue {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.done {
		return
	}
	// The writer sends its header map with a 1xx and keeps it for the
	// final response: the interim response goes out with its own fields
	// only, and the ones already set for the final response (a
	// Connection: close, say) are put back after it. Its hop-by-hop
	// fields stay behind, as a final response's do (RFC 9110 §7.6.1),
	// and it gets ferry's Via as every message forwarded does (§7.6.3).
	h := x.w.Header()
	kept := maps.Clone(h)
	clear(h)
	maps.Copy(h, http.Header(header))
	removeHopByHop(h)
	h.Add("Via", x.via(major, minor))
	x.w.WriteHeader(code)
	clear(h)
	maps.Copy(h, kept)
}

func (x *response) final() {
	x.mu.Lock()
	x.done = true
	x.mu.Unlock()
}
