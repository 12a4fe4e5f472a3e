package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/connect/forward"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/http1"
	"github.com/ferry-proxy/ferry/limit"
	"github.com/ferry-proxy/ferry/tunnel"
	"golang.org/x/net/http/httpguts"
)

// serve answers one request: a CONNECT opens a tunnel, an absolute-form
// request is forwarded, anything else is for ferry itself. keep reports
// whether the conn may carry another request; tunnelled, that a tunnel
// has taken the conn over (and will call end).
func (hc *httpConn) serve(r *http.Request, f http1.Framing) (keep, tunnelled bool) {
	ctx, cancel := context.WithCancelCause(hc.ctx)
	defer cancel(nil)
	r = r.WithContext(ctx)
	hc.sent100, hc.finalHead = false, false
	body := &requestBody{hc: hc, r: r, body: http1.NewBody(hc.br, f)}
	body.invite = r.ProtoMinor >= 1 && !body.body.Done() &&
		httpguts.HeaderValuesContainsToken(r.Header["Expect"], "100-continue")
	r.Body = body
	if body.body.Done() {
		body.done.Store(true)
		r.Body = http.NoBody
		hc.startBackgroundRead(cancel)
	}
	w := newResponse(hc, r)
	switch {
	case r.Method == http.MethodConnect:
		hc.stopBackgroundRead()
		if tunnelled = hc.serveConnect(w, r); tunnelled {
			return false, true
		}
	case r.URL.IsAbs():
		up, rec := hc.serveForward(w, r, body)
		if up != nil {
			hc.stopBackgroundRead()
			if !body.done.Load() {
				body.Stop() // nothing may read the conn's buffer once it is handed over
			}
			return false, hc.relayUpgrade(w, up, rec)
		}
		// The background read, if any, goes on as the wait for the
		// next request (waitForRequest); it is stopped only if the
		// conn ends here.
		if keep = hc.endRequest(w, body); !keep {
			hc.stopBackgroundRead()
		}
		return keep, false
	case isConnectUDP(r):
		hc.stopBackgroundRead()
		if hc.serveConnectUDP(w, r) {
			return false, true
		}
	default:
		hc.s.serveSelf(w, r)
	}
	hc.stopBackgroundRead()
	return hc.endRequest(w, body), false
}

// serveConnect opens a tunnel for a CONNECT read by the HTTP/1 reader (one
// after other requests on a keep-alive connection, or on a TLS listener).
// The conn is still the one the listener accepted, so between TCP sockets
// the relay splices. It reports whether the tunnel took the conn over.
func (hc *httpConn) serveConnect(w *response, r *http.Request) bool {
	t, taken := hc.s.open(r.Context(), w, r, func() (net.Conn, []byte, error) {
		early, err := hc.handOver(w)
		return hc.c, early, err
	})
	switch {
	case t != nil:
		t.start(hc.base, hc.end)
		return true
	case taken:
		// Handed over, then the 200 could not be written: open closed
		// the conn; it is done with.
		hc.end()
		return true
	}
	return false
}

// endRequest finishes the response and decides whether the conn goes on.
// A body nothing forwarded (a refusal, a cache hit) that the client is
// sending anyway is read and dropped within bounds, so the connection can
// carry the next request and the client reads the answer rather than a
// reset. A body a forward stopped reading (the origin answered early, the
// response said Connection: close) or one the client still holds back for
// 100 Continue (whether it follows is its choice now) ends the connection.
func (hc *httpConn) endRequest(w *response, body *requestBody) bool {
	given := body.touched.Load() || body.forwarded.Load()
	if given && !body.done.Load() {
		body.Stop()
	}
	keep := w.finish()
	if !body.done.Load() && (given || body.waitingForContinue() || !hc.settle(body)) {
		keep = false
	}
	return keep
}

// settle reads and drops a request body nothing forwarded, up to
// settleBytes within settleTime; it reports whether it reached the end.
func (hc *httpConn) settle(body *requestBody) bool {
	hc.c.SetReadDeadline(time.Now().Add(settleTime))
	io.CopyN(io.Discard, body.body, settleBytes)
	hc.c.SetReadDeadline(time.Time{})
	return body.body.Done()
}

// serveForward authenticates and authorizes an absolute-form request and
// hands it to the forwarder; a refusal or failure before the response is
// answered here. It returns a switched (101) exchange for the caller to
// relay, with its access record still open; else the record is written.
func (hc *httpConn) serveForward(w *response, r *http.Request, body *requestBody) (*forward.Upgraded, *accesslog.Record) {
	s := hc.s
	req := &tunnel.Request{Proto: tunnel.ProtoHTTP, Client: hc.client, Method: r.Method}
	rec := accesslog.Start(s.sink, tunnel.ProtoHTTP, req.Client)
	rec.Method = r.Method
	err := canonicalURL(r)
	rec.URL, rec.Target = r.URL.Redacted(), forwardTarget(r)
	if err == nil {
		err = s.authorizeForward(r, req, rec)
	}
	var lim *limit.Ticket
	if err == nil && !s.fwd.FromMember(r, req.Client) {
		// A request a fleet member sent on was admitted there.
		lim, err = s.engine.Admit(r.Context(), req)
		w.meter = lim.Meter()
	}
	var up *forward.Upgraded
	if err == nil {
		up, err = s.fwd.Serve(w, r, req, rec)
	}
	rec.BytesUp = body.n.Load()
	if up != nil {
		// The switched exchange holds the limits while it is relayed,
		// its bytes counted as a tunnel's.
		lim.Count(rec.BytesUp)
		up.Conn = tunnel.HoldLimits(up.Conn, lim)
		return up, rec
	}
	defer rec.Finish()
	defer func() {
		// The response's body was counted as it went (w.meter); the
		// request's body and the head are counted now.
		lim.Count(rec.BytesUp + max(0, rec.BytesDown-w.written))
		lim.Done()
	}()
	switch {
	case err == nil:
		if rec.Status == 0 {
			rec.Status = w.status
		}
	case context.Cause(r.Context()) == errClientGone || err == errClientGone:
		rec.Err = errClientGone
		w.err = errClientGone // nobody reads an answer: none is written
	case w.wroteHeader && w.retract():
		// The origin failed before a byte of its response left ferry:
		// the client gets ferry's answer, not a silent close.
		rec.BytesDown = 0
		s.refuse(w, r, rec, cutShort(err))
	case w.wroteHeader:
		// The response is cut short: the conn cannot carry another.
		rec.Err = err
		w.err = err
	default:
		s.refuse(w, r, rec, err)
	}
	rec.BytesDown = max(rec.BytesDown, w.written)
	return nil, rec
}

// cutShort is the error of an origin's response that failed before any
// of it reached the client: 504 when the origin stalled for idle_timeout,
// else 502.
func cutShort(err error) error {
	kind := tunnel.BadGateway
	if errors.Is(err, tunnel.ErrIdle) {
		kind = tunnel.Timeout
	}
	return &tunnel.Error{Kind: kind, Err: fmt.Errorf("origin response cut short: %w", err)}
}

// canonicalURL puts the one form of the target's authority in r's URL,
// which the ACL, the route, the dial, the Host field sent, the cache key
// and the log all take it from: the host as tunnel.CanonicalHost writes it
// (UTS #46 lookup mapping, punycode, lower case, no trailing dot), so the
// origin is asked for the name a rule approved (issue 20 item 3), and the
// port in decimal without leading zeros, an empty one left out (RFC 3986
// §6.2.3), as CONNECT and SOCKS targets are dialed and sent on. A host or
// port without such a form is refused (400).
func canonicalURL(r *http.Request) error {
	u := r.URL
	host, err := tunnel.CanonicalHost(u.Hostname())
	if err != nil {
		return err
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port := u.Port(); port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return tunnel.Errorf(tunnel.BadRequest, "bad port %q in the request target", clip(port))
		}
		host += ":" + strconv.FormatUint(n, 10)
	}
	u.Host, r.Host = host, host
	return nil
}

// forwardTarget is host:port of an absolute-form request, for the log.
func forwardTarget(r *http.Request) string {
	port := r.URL.Port()
	if port == "" {
		port = "80"
		if r.URL.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(r.URL.Hostname(), port)
}

// authorizeForward checks the target, the credentials and the ACL of a
// plain-HTTP request, noting the engine's outcome in rec.
func (s *Server) authorizeForward(r *http.Request, req *tunnel.Request, rec *accesslog.Record) error {
	if r.URL.Scheme != "http" && r.URL.Scheme != "https" {
		return tunnel.Errorf(tunnel.BadRequest, "unsupported scheme %q", r.URL.Scheme)
	}
	host, port, err := tunnel.SplitTarget(rec.Target)
	if err != nil {
		return err
	}
	req.Host, req.Port = host, port
	err = s.engine.Authenticate(r.Context(), req, proxyCredentials(r.Header))
	rec.User = req.User
	if err != nil {
		return err
	}
	out, err := s.engine.Authorize(r.Context(), req)
	rec.Note(out)
	return err
}

// relayUpgrade relays a switched (101) exchange: the 101 head goes out,
// what either side sent past its head is passed on, and the engine relays
// the two conns (spliced between TCP sockets) until both are done or the
// idle timeout. The access event is written when the relay ends.
func (hc *httpConn) relayUpgrade(w *response, up *forward.Upgraded, rec *accesslog.Record) bool {
	rec.Status = http.StatusSwitchingProtocols
	early, err := hc.handOver(w)
	if err == nil && len(early) > 0 {
		_, err = up.Conn.Write(early)
	}
	if err == nil && len(up.Buffered) > 0 {
		_, err = hc.c.Write(up.Buffered)
	}
	if err != nil {
		up.Conn.Close()
		rec.Err = err
		rec.Finish()
		return false
	}
	rec.BytesUp += int64(len(early))
	rec.BytesDown += int64(len(up.Buffered))
	end := hc.end // not hc: the relay keeps nothing of the conn's serving
	tunnel.Start(hc.base, hc.c, up.Conn, hc.s.engine.IdleTimeout(), func(st tunnel.Stats, err error) {
		defer end()
		rec.BytesUp += st.Up
		rec.BytesDown += st.Down
		rec.Err = err
		rec.Finish()
	})
	return true
}

// handOver flushes what w holds and gives the conn to a tunnel: it
// returns the bytes the client sent past its head (a pipelined ClientHello,
// say), which the tunnel must pass on first. The buffers go back to their
// pools; the conn's reads are the relay's from now on.
func (hc *httpConn) handOver(w *response) ([]byte, error) {
	if w != nil && w.wroteHeader {
		if err := w.FlushError(); err != nil {
			return nil, err
		}
	} else if err := hc.bw.Flush(); err != nil {
		return nil, err
	}
	var early []byte
	if n := hc.br.Buffered(); n > 0 {
		b, _ := hc.br.Peek(n)
		early = append([]byte(nil), b...)
	}
	hc.c.SetDeadline(time.Time{})
	hc.release()
	return early, nil
}
