package connect

import (
	"net/http"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
)

// serveConnectUDP serves CONNECT-UDP over HTTP/2 (RFC 9298 §3.4): an
// extended CONNECT with :protocol connect-udp for ferry's URI template;
// after its 200, the stream's DATA frames carry DATAGRAM capsules (RFC
// 9297 §3.5), both ways, as the upgraded HTTP/1.1 connection does
// (connectudp.go). The association is set up before the answer, so a
// refusal is an HTTP one with Proxy-Status. It runs on the stream's
// handler until the association ends.
func (h *h2Conn) serveConnectUDP(w http.ResponseWriter, r *http.Request) {
	s := h.s
	req := &tunnel.Request{Proto: tunnel.ProtoUDP, Client: h.client}
	rec := accesslog.Start(s.sink, tunnel.ProtoConnect, req.Client)
	defer rec.Finish()
	rec.Version, rec.Method, rec.URL = versionH2, "CONNECT-UDP", r.URL.Path
	dst, err := masqueTarget(r)
	if err == nil {
		rec.Target = dst.String()
		err = s.engine.Authenticate(r.Context(), req, proxyCredentials(r.Header))
		rec.User = req.User
	}
	if err != nil {
		s.refuse(w, r, rec, err)
		return
	}
	st := newH2Stream(w, r, h.s.cfg.HTTP2.StreamWindow)
	client := &capsuleClient{c: st, dst: dst}
	a, err := s.engine.Associate(h.ctx, req, client)
	if err != nil {
		s.refuse(w, r, rec, err)
		return
	}
	out, err := a.Prepare(dst)
	rec.Note(out)
	if err != nil {
		a.Close()
		s.refuse(w, r, rec, err)
		return
	}
	w.Header().Set("Capsule-Protocol", "?1")
	w.WriteHeader(http.StatusOK)
	rec.Status = http.StatusOK
	if err := http.NewResponseController(w).Flush(); err != nil {
		a.Close()
		rec.Err = err
		return
	}
	client.start(nil)
	stats, err := a.Run()
	st.Close()
	rec.Note(stats.Outcome)
	rec.BytesUp, rec.BytesDown, rec.Packets, rec.Err = stats.Up, stats.Down, &stats, err
}
