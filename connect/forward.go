package connect

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
	"golang.org/x/net/http/httpguts"
)

// forward is the state of one plain-HTTP request while the transport works
// on it; the transport may dial on its own goroutine, hence the lock.
type forward struct {
	req  *tunnel.Request
	rec  *accesslog.Record // the cache's report goes here; the rest in serveForward
	plan *tunnel.Plan      // where the request goes (upstream.go)

	w      http.ResponseWriter // the client's, for 1xx responses (pass.go)
	body   *countingBody       // the request's, nil without one
	cancel context.CancelCauseFunc

	mu            sync.Mutex
	roundTripDone bool           // the final response is in: no more 1xx
	out           tunnel.Outcome // the dials' and reused conns' outcomes, joined
}

// note joins a dial's (or a reused conn's check's) outcome to fw's.
func (fw *forward) note(o tunnel.Outcome) {
	fw.mu.Lock()
	fw.out = fw.out.Then(o)
	fw.mu.Unlock()
}

type forwardKey struct{}

func (s *Server) newTransport() *http.Transport {
	return &http.Transport{
		DialContext:           s.dialOrigin,
		MaxIdleConns:          s.cfg.MaxIdleConns,
		MaxIdleConnsPerHost:   s.cfg.MaxIdlePerHost,
		IdleConnTimeout:       s.cfg.OriginIdleTimeout,
		ResponseHeaderTimeout: s.cfg.ResponseTimeout,
		ExpectContinueTimeout: time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		// A proxy passes bodies as they are: no Accept-Encoding of its own.
		DisableCompression:     true,
		MaxResponseHeaderBytes: 1 << 20,
	}
}

var copyBuffers = &bufferPool{sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}

// bufferPool lends ReverseProxy its body copy buffers.
type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) Get() []byte  { return *p.pool.Get().(*[]byte) }
func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }

func (s *Server) newReverseProxy() http.Handler {
	return &httputil.ReverseProxy{
		Rewrite:        s.rewrite,
		Transport:      s.origin,
		BufferPool:     copyBuffers,
		ErrorHandler:   s.proxyError,
		ModifyResponse: s.modifyResponse,
	}
}

// serveForward forwards an absolute-form request to its origin.
func (s *Server) serveForward(w http.ResponseWriter, r *http.Request) {
	req := &tunnel.Request{Proto: tunnel.ProtoHTTP, Client: clientAddr(r), Method: r.Method}
	rec := accesslog.Start(s.sink, tunnel.ProtoHTTP, req.Client)
	// ReverseProxy may write the response while it still copies the
	// request body to the origin. Without full duplex, net/http reads and
	// discards the unread request body itself before sending the response
	// head: the head waits for the whole upload, and the body is read from
	// two places at once.
	http.NewResponseController(w).EnableFullDuplex()
	var body *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &countingBody{ReadCloser: r.Body}
		r.Body = body
		// Deferred before rec.Finish, so it runs after: the event is not
		// held up by the wait.
		defer body.settle(w, r)
		// A client that stops sending its body is cut off after the
		// idle timeout, as a silent tunnel is; once the body is in, the
		// wait for the origin's answer is the response timeout's.
		body.watch = watchIdle(s.engine.IdleTimeout(), func() {
			http.NewResponseController(w).SetReadDeadline(time.Now())
			if cancel := body.cancel.Load(); cancel != nil {
				(*cancel)(tunnel.ErrIdle) // the origin side too
			}
		})
		defer body.watch.stop()
	}
	defer rec.Finish()
	rec.Method, rec.URL = r.Method, r.URL.Redacted()

	if r.URL.Scheme != "http" && r.URL.Scheme != "https" {
		fail(w, rec, tunnel.Errorf(tunnel.BadRequest, "unsupported scheme %q", r.URL.Scheme))
		return
	}
	port := r.URL.Port()
	if port == "" {
		port = "80"
		if r.URL.Scheme == "https" {
			port = "443"
		}
	}
	rec.Target = net.JoinHostPort(r.URL.Hostname(), port)
	host, p, err := tunnel.SplitTarget(rec.Target)
	if err != nil {
		fail(w, rec, err)
		return
	}
	req.Host, req.Port = host, p
	err = s.engine.Authenticate(r.Context(), req, proxyCredentials(r.Header))
	rec.User = req.User
	if err != nil {
		s.refuse(w, r, rec, err)
		return
	}
	out, err := s.engine.Authorize(r.Context(), req)
	rec.Note(out)
	if err != nil {
		s.refuse(w, r, rec, err)
		return
	}
	if r.Method == MethodPurge && s.cfg.Cache != nil {
		s.servePurge(w, r, req, rec)
		return
	}

	plan, out, err := s.engine.Route(r.Context(), req)
	rec.Note(out)
	if err != nil {
		s.refuse(w, r, rec, err)
		return
	}
	cw := &countingWriter{ResponseWriter: w}
	fw := &forward{req: req, rec: rec, plan: plan, w: cw, body: body}
	ctx, cancel := context.WithCancelCause(context.WithValue(r.Context(), forwardKey{}, fw))
	defer cancel(nil)
	fw.cancel = cancel
	if body != nil {
		body.cancel.Store(&cancel)
	}
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { s.gotConn(fw, info, cancel) },
	}
	upgrade := upgradeType(r.Header) != ""
	if !upgrade {
		trace.Got1xxResponse = fw.got1xx // ReverseProxy has its own
	}
	ctx = httptrace.WithClientTrace(ctx, trace)
	var copyErr error
	var upgraded *watchedConn
	if upgrade {
		uw := &upgradeWriter{countingWriter: cw, idle: s.engine.IdleTimeout(),
			onIdle: func() { cancel(tunnel.ErrIdle) }}
		s.proxy.ServeHTTP(uw, r.WithContext(ctx))
		upgraded = uw.conn
	} else {
		copyErr = s.pass(cw, r.WithContext(ctx), fw)
		if copyErr == nil && body != nil && body.answeredEarly.Load() {
			body.drainAfterAnswer(w, cancel)
		}
	}

	if body != nil {
		rec.BytesUp = body.n.Load()
	}
	rec.BytesDown = cw.n
	if upgraded != nil {
		upgraded.Close() // ReverseProxy is done with it: stop the watchdog
		rec.BytesUp += upgraded.up.Load()
		rec.BytesDown += upgraded.down.Load()
		if upgraded.watch.timedOut() {
			rec.Err = tunnel.ErrIdle
		}
	}
	if rec.Status == 0 {
		rec.Status = cw.status
	}
	fw.mu.Lock()
	rec.Note(fw.out)
	fw.mu.Unlock()
	if copyErr != nil {
		// The response is cut short: net/http closes the client conn
		// without ending it, as after a ReverseProxy copy error.
		rec.Err = copyErr
		panic(http.ErrAbortHandler)
	}
}

// dialOrigin is the transport's dialer: every origin connection goes
// through the engine, so the ACL sees each address dialed.
func (s *Server) dialOrigin(ctx context.Context, network, addr string) (net.Conn, error) {
	fw, ok := ctx.Value(forwardKey{}).(*forward)
	if !ok {
		return nil, tunnel.Errorf(tunnel.Internal, "dial %s: no request in context", addr)
	}
	host, port, err := tunnel.SplitTarget(addr)
	if err != nil {
		return nil, err
	}
	d := *fw.req
	d.Host, d.Port = host, port
	c, out, err := s.engine.Dial(ctx, &d, fw.plan)
	if err == nil {
		out.Dialed = "" // gotConn notes the conn actually used
	}
	fw.note(out)
	return c, err
}

// gotConn records the address served from, and asks the ACL again when the
// transport reuses a pooled conn that was dialed for another request.
func (s *Server) gotConn(fw *forward, info httptrace.GotConnInfo, cancel context.CancelCauseFunc) {
	if va, ok := info.Conn.RemoteAddr().(viaAddr); ok {
		// Through an upstream: the route step asked the ACL; the conn's
		// address is the upstream's, not the origin's.
		fw.note(tunnel.Outcome{Dialed: va.parent.String()})
		return
	}
	remote := info.Conn.RemoteAddr().String()
	fw.note(tunnel.Outcome{Dialed: remote})
	if !info.Reused {
		return
	}
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return
	}
	out, err := s.engine.AuthorizeAddr(context.Background(), fw.req, ap.Addr())
	fw.note(out)
	if err != nil {
		cancel(err)
	}
}

// rewrite is ReverseProxy's Rewrite, for upgrades (serveForward).
// ReverseProxy has already removed the hop-by-hop headers (RFC 9110
// §7.6.1, and those named in Connection) and the client's X-Forwarded-*
// and Forwarded.
func (s *Server) rewrite(pr *httputil.ProxyRequest) {
	in := inbound{
		remoteAddr: pr.In.RemoteAddr, host: pr.In.Host, tls: pr.In.TLS != nil,
		major: pr.In.ProtoMajor, minor: pr.In.ProtoMinor,
	}
	for i, k := range forwardingHeaders {
		in.forwarded[i] = pr.In.Header[k]
	}
	s.rewriteOut(pr.Out, &in)
}

// rewriteOut finishes the outbound request, whose hop-by-hop headers and
// forwarding headers are gone: no Host of its own (the URL's), no Proxy-*,
// the forwarding headers Config.Forwarded asks for, and Via.
func (s *Server) rewriteOut(out *http.Request, in *inbound) {
	out.Host = ""
	for k := range out.Header {
		if strings.HasPrefix(k, "Proxy-") {
			delete(out.Header, k)
		}
	}
	switch s.cfg.Forwarded {
	case ForwardedOff:
		// Pass on what earlier proxies said, add nothing about this client.
		for i, k := range forwardingHeaders {
			if v := in.forwarded[i]; v != nil {
				out.Header[k] = v
			}
		}
	case ForwardedAdd:
		// The X-Forwarded-For appended to is the client's.
		for i, k := range forwardingHeaders[:2] { // Forwarded, X-Forwarded-For
			if v := in.forwarded[i]; v != nil {
				out.Header[k] = v
			}
		}
		setXForwarded(out.Header, in)
		ap, _ := netip.ParseAddrPort(in.remoteAddr)
		client := ap.Addr().String()
		if strings.Contains(client, ":") {
			client = `"[` + client + `]"`
		}
		out.Header.Add("Forwarded", "for="+client+";proto=http")
	case ForwardedStrip:
		// Already removed.
	}
	out.Header.Add("Via", s.via(in.major, in.minor))
}

// setXForwarded is httputil.ProxyRequest.SetXForwarded on the inbound
// request as the client sent it.
func setXForwarded(h http.Header, in *inbound) {
	if clientIP, _, err := net.SplitHostPort(in.remoteAddr); err == nil {
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			clientIP = strings.Join(prior, ", ") + ", " + clientIP
		}
		h.Set("X-Forwarded-For", clientIP)
	} else {
		h.Del("X-Forwarded-For")
	}
	h.Set("X-Forwarded-Host", in.host)
	if in.tls {
		h.Set("X-Forwarded-Proto", "https")
	} else {
		h.Set("X-Forwarded-Proto", "http")
	}
}

func (s *Server) via(major, minor int) string {
	if major == 1 && minor == 1 {
		return s.via11 // nearly every message: no string built per request
	}
	return strconv.Itoa(major) + "." + strconv.Itoa(minor) + " " + s.cfg.ViaName
}

func (s *Server) modifyResponse(resp *http.Response) error {
	resp.Header.Add("Via", s.via(resp.ProtoMajor, resp.ProtoMinor))
	if fw, ok := resp.Request.Context().Value(forwardKey{}).(*forward); ok {
		fw.rec.Status = resp.StatusCode
	}
	return nil
}

// proxyError is ReverseProxy's one error path: the transport failed
// before a response head arrived.
func (s *Server) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	var rec *accesslog.Record
	if fw, ok := r.Context().Value(forwardKey{}).(*forward); ok {
		rec = fw.rec
	}
	var bodyErr error
	if fw, ok := r.Context().Value(forwardKey{}).(*forward); ok && fw.body != nil {
		bodyErr = fw.body.readErr()
	}
	var te *tunnel.Error
	var ne net.Error
	if cause := context.Cause(r.Context()); errors.As(cause, &te) {
		err = cause
	} else if fw, ok := r.Context().Value(forwardKey{}).(*forward); ok && fw.body != nil && fw.body.watch.timedOut() {
		err = tunnel.Errorf(tunnel.RequestTimeout, "request body: nothing received for %v (idle_timeout)", s.engine.IdleTimeout())
	} else if bodyErr != nil && !errors.As(bodyErr, &ne) && !errors.Is(bodyErr, io.ErrUnexpectedEOF) {
		// The client's body did not parse (a bad chunk, say): its
		// fault, not the gateway's.
		err = tunnel.Errorf(tunnel.BadRequest, "request body: %v", bodyErr)
	} else if bodyErr != nil || errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client left; nobody reads an answer.
		if rec != nil {
			rec.Err = errClientGone
		}
		return
	}
	s.refuse(w, r, rec, err)
}

// countingBody counts request body bytes sent to the origin.
type countingBody struct {
	io.ReadCloser
	n       atomic.Int64                            // the transport may still read when the handler looks
	touched atomic.Bool                             // read or closed: a forwarder has it (and its end)
	err     atomic.Value                            // the first read error but EOF: the client's doing
	watch   *idleWatch                              // the idle timeout while the body comes
	cancel  atomic.Pointer[context.CancelCauseFunc] // the forward's, once it has one
	eof     atomic.Bool                             // read to its end
	// answeredEarly: the origin's answer came before the body's end.
	answeredEarly atomic.Bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	b.touched.Store(true)
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	b.watch.moved(n)
	if err == io.EOF {
		b.eof.Store(true)
		b.watch.stop()
	} else if err != nil {
		b.err.CompareAndSwap(nil, errBox{err})
	}
	return n, err
}

// errBox lets errors of different types share an atomic.Value.
type errBox struct{ err error }

// readErr is the first error reading the body gave, if any.
func (b *countingBody) readErr() error {
	if v, ok := b.err.Load().(errBox); ok {
		return v.err
	}
	return nil
}

func (b *countingBody) Close() error {
	b.touched.Store(true)
	return b.ReadCloser.Close()
}

// Bounds of settle's wait for a body nobody read.
const (
	settleTime  = 2 * time.Second
	settleBytes = 1 << 20
)

// settle ends a request body that nothing forwarded (a refusal, a cache
// hit) before the handler returns; one a forwarder read or closed is the
// forwarder's to end (ReverseProxy closes it as it returns). With full
// duplex on, net/http would discard it after the handler, racing its own
// read of the next request: a panic and a dropped connection
// (golang/go#68560). A body the client is sending anyway is read and
// dropped, up to settleBytes within settleTime, so the connection can
// carry the next request and the client, still writing, reads the answer
// rather than a reset; past either bound it is closed and net/http ends
// the connection after the answer. A client waiting for 100 Continue is
// not asked for the body: the connection ends.
func (b *countingBody) settle(w http.ResponseWriter, r *http.Request) {
	if b.touched.Load() {
		return
	}
	rc := http.NewResponseController(w)
	rc.Flush() // the answer first: the client may wait for it to stop sending
	if expectsContinue(r) {
		// Whether the body follows is the client's choice now: the
		// connection cannot carry another request (net/http, without
		// full duplex, ends it too). The answer has its length; close.
		if c, _, err := rc.Hijack(); err == nil {
			c.Close()
			finishHijacked(r)
		}
		return
	}
	rc.SetReadDeadline(time.Now().Add(settleTime))
	io.CopyN(io.Discard, b.ReadCloser, settleBytes)
	b.ReadCloser.Close()
}

// errAnsweredEarly stops a body upload the origin has answered already.
var errAnsweredEarly = errors.New("the origin answered before the whole request body")

// drainAfterAnswer follows an answer the origin gave before it had the
// whole request body (its head said Connection: close): the upload to the
// origin is stopped, and what the client still sends is read and dropped,
// up to drainBytes within settleTime, before the connection closes.
// Closed with unread bytes, the socket would send a reset, which can
// destroy the answer before the client reads it (RFC 9112 §9.6).
func (b *countingBody) drainAfterAnswer(w http.ResponseWriter, cancel context.CancelCauseFunc) {
	rc := http.NewResponseController(w)
	rc.Flush()
	cancel(errAnsweredEarly)
	rc.SetReadDeadline(time.Now().Add(settleTime))
	io.CopyN(io.Discard, b.ReadCloser, drainBytes)
}

// drainBytes bounds drainAfterAnswer: past it, net/http's own close
// (a half-close, half a second, then the close) is all the client gets.
const drainBytes = 64 << 20

// expectsContinue reports a request whose client waits for 100 Continue
// before it sends the body (RFC 9110 §10.1.1).
func expectsContinue(r *http.Request) bool {
	return httpguts.HeaderValuesContainsToken(r.Header["Expect"], "100-continue")
}

// countingWriter counts response bytes and keeps the final status; Unwrap
// lets http.ResponseController reach Flush and Hijack for upgrades.
type countingWriter struct {
	http.ResponseWriter
	n      int64
	status int
}

func (w *countingWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
