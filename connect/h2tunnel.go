package connect

import (
	"net/http"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
)

// versionH2 is what the access line says of a request on an HTTP/2 stream.
const versionH2 = "h2"

// serveConnect opens a tunnel for a CONNECT stream (RFC 9113 §8.5): its
// :authority is the target; after 200 the stream's DATA frames are the
// tunnel's bytes, both ways. The relay runs on its own goroutines; this
// one waits until it is through with the response, and its return ends
// the stream.
//
// slot is the stream's max_conns slot, if any: the relay gives it back
// when the tunnel ends (the handler may return before, at a half-close).
func (h *h2Conn) serveConnect(w http.ResponseWriter, r *http.Request, slot *func()) {
	s := h.s
	req := &tunnel.Request{Proto: tunnel.ProtoConnect, Client: h.client, Method: r.Method}
	rec := accesslog.Start(s.sink, tunnel.ProtoConnect, req.Client)
	rec.Version, rec.Method, rec.Target = versionH2, r.Method, r.Host
	server, err := s.authorizeAndDial(r.Context(), w, r, req, rec)
	if err != nil {
		if r.Context().Err() != nil {
			h.resetEarly()
		}
		rec.Finish()
		return
	}
	rec.Status = http.StatusOK
	w.WriteHeader(http.StatusOK)
	if err := http.NewResponseController(w).Flush(); err != nil {
		server.Close()
		rec.Err = err
		rec.Finish()
		if r.Context().Err() != nil {
			h.resetEarly()
		}
		return
	}
	st := newH2Stream(w, r, h.s.cfg.HTTP2.StreamWindow)
	release := *slot
	*slot = nil
	// The connection's context, not the stream's: the stream's ends as
	// the handler returns, which a half-close does while the client's
	// side still moves. A client's reset reaches the relay as a failed
	// read.
	tunnel.Start(h.ctx, st, server, s.engine.IdleTimeout(), func(stats tunnel.Stats, err error) {
		if release != nil {
			release()
		}
		rec.BytesUp, rec.BytesDown, rec.Err = stats.Up, stats.Down, err
		rec.Finish()
	})
	<-st.done
}
