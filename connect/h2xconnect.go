package connect

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/ferry-proxy/ferry/connect/forward"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/limit"
	"github.com/ferry-proxy/ferry/tunnel"
)

// serveExtendedConnect serves an extended CONNECT (RFC 8441 §4): a
// CONNECT whose :protocol names what the stream is to carry. websocket
// goes to the origin its :scheme, :authority and :path name (RFC 8441
// §5); connect-udp is for ferry itself, UDP to the target its path names
// (RFC 9298 §3.4). Anything else is refused. A WebSocket keeps the
// stream's max_conns slot until its relay ends, as a tunnel does.
func (h *h2Conn) serveExtendedConnect(w http.ResponseWriter, r *http.Request, slot *func()) {
	switch p := r.Header.Get(":protocol"); {
	case strings.EqualFold(p, "websocket"):
		h.serveWebSocket(w, r, slot)
	case p == "connect-udp" && strings.HasPrefix(r.URL.Path, "/.well-known/masque/udp/"):
		h.serveConnectUDP(w, r)
	default:
		rec := accesslog.Start(h.s.sink, tunnel.ProtoConnect, h.client)
		defer rec.Finish()
		rec.Version, rec.Method, rec.URL = versionH2, r.Method, r.URL.Redacted()
		fail(w, rec, tunnel.Errorf(tunnel.BadRequest, "extended CONNECT for %q is not served: websocket or connect-udp", clip(p)))
	}
}

// serveWebSocket forwards a WebSocket over HTTP/2 (RFC 8441 §5) to its
// origin as the HTTP/1.1 upgrade of RFC 6455 §4.1, through the forwarder
// like any request, the ACL and routing included (proto http, method
// GET). ferry makes the handshake's key and checks the origin's answer
// to it; the origin's 101 is the client's 200; then the stream carries
// the WebSocket frames, which are the same in both versions, relayed.
func (h *h2Conn) serveWebSocket(w http.ResponseWriter, r *http.Request, slot *func()) {
	s := h.s
	stream := r.Body // the frames, relayed after the handshake
	r.Body, r.ContentLength = http.NoBody, 0
	r.Method = http.MethodGet
	r.Header.Del(":protocol")
	r.URL.Scheme = "http" // ws (RFC 8441 §5: :scheme is http or https)
	if r.TLS != nil {
		r.URL.Scheme = "https"
	}
	r.URL.Host = r.Host
	key := websocketKey()
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Key", key)
	if r.Header.Get("Sec-WebSocket-Version") == "" {
		r.Header.Set("Sec-WebSocket-Version", "13")
	}

	req := &tunnel.Request{Proto: tunnel.ProtoHTTP, Client: h.client, Method: r.Method}
	rec := accesslog.Start(s.sink, tunnel.ProtoHTTP, req.Client)
	rec.Version, rec.Method = versionH2, http.MethodConnect
	err := canonicalURL(r)
	rec.URL, rec.Target = r.URL.Redacted(), forwardTarget(r)
	if err == nil {
		err = s.authorizeForward(r, req, rec)
	}
	var lim *limit.Ticket
	if err == nil {
		lim, err = s.engine.Admit(r.Context(), req)
	}
	aw := &websocketAnswer{ResponseWriter: w, accept: websocketAccept(key)}
	if err == nil {
		var up *forward.Upgraded
		up, err = s.fwd.Serve(aw, r, req, rec)
		if up != nil {
			// The WebSocket holds the limits while it is relayed, its
			// bytes counted as a tunnel's.
			up.Conn = tunnel.HoldLimits(up.Conn, lim)
			r.Body = stream
			h.relayWebSocket(w, r, up, aw, rec, slot)
			return
		}
	}
	defer lim.Done()
	defer rec.Finish()
	switch {
	case err == nil:
		// The origin answered without switching (a 403, say): that answer
		// has gone to the client as it is.
		if rec.Status == 0 {
			rec.Status = http.StatusOK
		}
	case context.Cause(r.Context()) != nil:
		rec.Err = errClientGone
	case aw.wroteHeader:
		rec.Err = err
		panicAbort()
	default:
		s.refuse(aw, r, rec, err)
	}
}

// relayWebSocket relays a switched WebSocket: the origin's bytes past its
// 101 first, then both ways until either ends.
func (h *h2Conn) relayWebSocket(w http.ResponseWriter, r *http.Request, up *forward.Upgraded, aw *websocketAnswer, rec *accesslog.Record, slot *func()) {
	if !aw.matched {
		up.Conn.Close()
		fail(w, rec, tunnel.Errorf(tunnel.BadGateway, "the origin's Sec-WebSocket-Accept does not answer ferry's key (RFC 6455 section 4.2.2)"))
		rec.Finish()
		return
	}
	rec.Status = http.StatusOK
	st := newH2Stream(w, r, h.s.cfg.HTTP2.StreamWindow)
	if len(up.Buffered) > 0 {
		if _, err := st.Write(up.Buffered); err != nil {
			up.Conn.Close()
			st.Close()
			rec.Err = err
			rec.Finish()
			return
		}
		rec.BytesDown += int64(len(up.Buffered))
	}
	release := *slot
	*slot = nil // the relay's now: the handler may return at a half-close
	tunnel.Start(h.ctx, st, up.Conn, h.s.engine.IdleTimeout(), func(stats tunnel.Stats, err error) {
		if release != nil {
			release()
		}
		rec.BytesUp += stats.Up
		rec.BytesDown += stats.Down
		rec.Err = err
		rec.Finish()
	})
	<-st.done
}

// websocketAnswer passes the origin's answer on, its 101 as the 200 of
// RFC 8441 §5 without the HTTP/1.1 upgrade's fields, having checked its
// Sec-WebSocket-Accept; a 101 that does not match is held back.
type websocketAnswer struct {
	http.ResponseWriter
	accept      string
	matched     bool
	wroteHeader bool
}

func (a *websocketAnswer) WriteHeader(code int) {
	if code == http.StatusSwitchingProtocols {
		h := a.Header()
		a.matched = h.Get("Sec-WebSocket-Accept") == a.accept
		if !a.matched {
			return
		}
		for _, k := range []string{"Connection", "Upgrade", "Sec-Websocket-Accept"} {
			delete(h, k)
		}
		code = http.StatusOK
	}
	if code >= 200 {
		a.wroteHeader = true
	}
	a.ResponseWriter.WriteHeader(code)
	if code == http.StatusOK && a.matched {
		http.NewResponseController(a.ResponseWriter).Flush()
	}
}

func (a *websocketAnswer) Write(p []byte) (int, error) {
	a.wroteHeader = true
	return a.ResponseWriter.Write(p)
}

func (a *websocketAnswer) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// websocketKey is a fresh Sec-WebSocket-Key: 16 random bytes, base64
// (RFC 6455 §4.1).
func websocketKey() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// websocketAccept is the Sec-WebSocket-Accept that answers key (RFC 6455
// §4.2.2 item 5.4).
func websocketAccept(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}
