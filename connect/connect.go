package connect

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
)

const connectEstablished = "HTTP/1.1 200 Connection established\r\n\r\n"

// openTunnel is a CONNECT answered 200, ready to relay.
type openTunnel struct {
	client, server net.Conn
	early          int64 // bytes read past the head and sent on already
	idle           time.Duration
	rec            *accesslog.Record
}

// start relays the tunnel on the relay's own goroutines: it returns at
// once, and end is called (deferred, so it can recover a panic) once the tunnel has
// ended and its event is written.
func (t *openTunnel) start(ctx context.Context, end func()) {
	tunnel.Start(ctx, t.client, t.server, t.idle, func(st tunnel.Stats, err error) {
		defer end()
		t.finish(st, err)
	})
}

func (t *openTunnel) finish(st tunnel.Stats, err error) {
	t.rec.BytesUp, t.rec.BytesDown, t.rec.Err = st.Up+t.early, st.Down, err
	t.rec.Finish()
}

// open opens a tunnel (RFC 9110 §9.3.6) for both paths: authorize, dial,
// answer 200. A refusal is answered on w, before take is called; take
// hands over the client conn and any bytes already read past the head.
// taken reports whether it was called: the conn is the tunnel's now, and
// closed when t is nil (the client went away). The access event is
// written here when t is nil, else by t.relay.
func (s *Server) open(ctx context.Context, w http.ResponseWriter, r *http.Request,
	take func() (net.Conn, []byte, error)) (t *openTunnel, taken bool) {
	req := &tunnel.Request{Proto: tunnel.ProtoConnect, Client: clientAddr(r), Method: r.Method}
	rec := accesslog.Start(s.sink, tunnel.ProtoConnect, req.Client)
	rec.Method, rec.Target = r.Method, r.Host
	server, err := s.authorizeAndDial(ctx, w, r, req, rec)
	if err != nil {
		rec.Finish()
		return nil, false
	}
	client, early, err := take()
	if err != nil {
		server.Close()
		fail(w, rec, tunnel.Errorf(tunnel.Internal, "hijack: %v", err))
		rec.Finish()
		return nil, false
	}
	client.SetDeadline(time.Time{})
	rec.Status = http.StatusOK
	_, err = io.WriteString(client, connectEstablished)
	if err == nil && len(early) > 0 {
		_, err = server.Write(early)
	}
	if err != nil {
		client.Close()
		server.Close()
		rec.Err = err
		rec.Finish()
		return nil, true
	}
	return &openTunnel{client: client, server: server, early: int64(len(early)), idle: s.engine.IdleTimeout(), rec: rec}, true
}

// authorizeAndDial checks the target, the credentials and the ACL, and
// dials; a refusal is answered on w and returned.
func (s *Server) authorizeAndDial(ctx context.Context, w http.ResponseWriter, r *http.Request,
	req *tunnel.Request, rec *accesslog.Record) (net.Conn, error) {
	host, port, err := tunnel.SplitTarget(r.Host)
	if err != nil {
		fail(w, rec, err)
		return nil, err
	}
	req.Host, req.Port = host, port
	rec.Target = req.Target() // the one form of the name (issue 20 item 3)
	err = s.engine.Authenticate(ctx, req, proxyCredentials(r.Header))
	rec.User = req.User
	if err != nil {
		s.refuse(w, r, rec, err)
		return nil, err
	}
	out, err := s.engine.Authorize(ctx, req)
	var server net.Conn
	if err == nil {
		server, out, err = s.engine.Open(ctx, req)
	}
	rec.Note(out)
	if err != nil {
		s.refuse(w, r, rec, err)
		return nil, err
	}
	return server, nil
}
