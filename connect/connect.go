package connect

import (
	"io"
	"net/http"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
)

const connectEstablished = "HTTP/1.1 200 Connection established\r\n\r\n"

// serveConnect opens a tunnel (RFC 9110 §9.3.6): authorize, dial, answer
// 200, then relay the raw client conn, which is still the *net.TCPConn the
// listener accepted, so the relay can splice.
func (s *Server) serveConnect(w http.ResponseWriter, r *http.Request) {
	req := &tunnel.Request{Proto: tunnel.ProtoConnect, Client: clientAddr(r), Method: r.Method}
	rec := accesslog.Start(s.sink, tunnel.ProtoConnect, req.Client)
	req.Log = rec
	defer rec.Finish()
	rec.Method, rec.Target = r.Method, r.Host

	host, port, err := tunnel.SplitTarget(r.Host)
	if err != nil {
		fail(w, rec, err)
		return
	}
	req.Host, req.Port = host, port
	if err := s.engine.Authenticate(r.Context(), req, proxyCredentials(r.Header)); err != nil {
		s.refuse(w, r, rec, err)
		return
	}
	if err := s.engine.Authorize(req); err != nil {
		s.refuse(w, r, rec, err)
		return
	}
	server, err := s.engine.Dial(r.Context(), req)
	if err != nil {
		s.refuse(w, r, rec, err)
		return
	}
	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		server.Close()
		fail(w, rec, tunnel.Errorf(tunnel.Internal, "hijack: %v", err))
		return
	}
	client.SetDeadline(time.Time{})
	rec.Status = http.StatusOK
	if _, err := io.WriteString(client, connectEstablished); err != nil {
		client.Close()
		server.Close()
		rec.Err = err
		return
	}
	// Bytes the client sent right after its head (a pipelined TLS
	// ClientHello, say) sit in net/http's reader: pass them on first.
	var early int64
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		if _, err := server.Write(b); err != nil {
			client.Close()
			server.Close()
			rec.Err = err
			return
		}
		early = int64(n)
	}
	st, err := tunnel.Relay(r.Context(), client, server, s.engine.IdleTimeout())
	rec.BytesUp, rec.BytesDown, rec.Err = st.Up+early, st.Down, err
}
