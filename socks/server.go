package socks

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/netx"
	"github.com/ferry-proxy/ferry/internal/proxyhdr"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
)

// The access log's names of the two protocols (the ACL knows both as
// tunnel.ProtoSOCKS).
const (
	protoSOCKS5 = "socks5"
	protoSOCKS4 = "socks4"
)

// Server is the SOCKS front end. It satisfies front.Handler.
type Server struct {
	engine *tunnel.Engine
	sink   accesslog.Sink
	log    zerolog.Logger
}

// New returns a Server dialing through engine and logging to sink.
func New(engine *tunnel.Engine, sink accesslog.Sink, logger zerolog.Logger) *Server {
	return &Server{engine: engine, sink: sink, log: logger}
}

// ServeConn serves one SOCKS4, 4a or 5 connection. The caller has set the
// handshake read deadline; it is cleared once the tunnel is up. The
// sniffed bytes are not needed: the handshake reads through a buffer. end
// is called when c is done with: at once after a refusal, else when the
// tunnel ends, from the relay's goroutines (ServeConn returns as the
// relay starts, letting the handshake's stack go: issue 9).
func (s *Server) ServeConn(ctx context.Context, c net.Conn, _ []byte, end func()) {
	if t := s.handshake(ctx, c); t != nil {
		s.start(ctx, c, t, end)
		return
	}
	// After a refusal (its access record already written) or a broken
	// handshake: the client may have sent more than was read (an address
	// of an unknown type, data sent early after the request).
	netx.LingerClose(c)
	end()
}

// readers pools the handshake's buffered readers. A SOCKS handshake read
// field by field from the socket took a syscall per field (six for
// SOCKS5, one per byte of a SOCKS4a name); buffered, each message the
// client sends is usually one read. What the client sent past its request
// (data before the reply, which some clients send) is passed on to the
// target before the relay starts.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 512) }}

// handshake reads the request and answers it; a request granted is
// returned for relaying.
func (s *Server) handshake(ctx context.Context, c net.Conn) *granted {
	br := readers.Get().(*bufio.Reader)
	br.Reset(c)
	defer func() {
		br.Reset(nil)
		readers.Put(br)
	}()
	v, err := br.ReadByte()
	if err != nil {
		return nil
	}
	client := proxyhdr.ClientOf(ctx, c)
	var t *granted
	switch v {
	case version5:
		t, err = s.serve5(ctx, c, br, client)
	case version4:
		t, err = s.serve4(ctx, c, br, client)
	default:
		err = s.refuseVersion(c, client, v)
	}
	if err != nil {
		s.log.Debug().Err(err).Str("client", client.String()).Msg("socks handshake")
	}
	if t != nil && br.Buffered() > 0 {
		// Before what a BIND's wait read, if anything: the client sent
		// these first.
		early, _ := br.Peek(br.Buffered())
		t.early = append(bytes.Clone(early), t.early...)
	}
	return t
}

// granted is a request answered with success: the conn to the target, the
// access record, which relay finishes, and bytes the client sent past its
// request.
type granted struct {
	server net.Conn
	rec    *accesslog.Record
	early  []byte
	assoc  *tunnel.Association // UDP ASSOCIATE: relayed instead of server (udp.go)
}

func (s *Server) serve5(ctx context.Context, c net.Conn, br io.Reader, client netip.AddrPort) (*granted, error) {
	methods, err := readGreeting(br)
	if errors.Is(err, errMalformed) {
		// RFC 1928 §3 has one answer that ends a greeting: no method.
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte{version5, methodNoAcceptable})
		s.logRefusal(protoSOCKS5, "", client, methodNoAcceptable, tunnel.Errorf(tunnel.BadRequest, "%v", err))
	}
	if err != nil {
		s.logCutShort(protoSOCKS5, "", client, "SOCKS5 greeting", err)
		return nil, err
	}
	auth := s.engine.Listener(ctx).Auth
	method := chooseMethod(methods, auth, s.engine.HasUsers())
	if method == methodNoAcceptable {
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte{version5, methodNoAcceptable})
		kind, method, why := tunnel.BadRequest, "", "no method the client offers is served here"
		if auth {
			kind, method, why = tunnel.AuthNeeded, "AUTH", "login required: the client does not offer username/password (RFC 1929)"
		}
		err := tunnel.Errorf(kind, "%s (offered % x)", why, methods)
		s.logRefusal(protoSOCKS5, method, client, methodNoAcceptable, err)
		return nil, err
	}
	if _, err := c.Write([]byte{version5, method}); err != nil {
		return nil, err
	}
	user, err := s.authenticate5(ctx, c, br, client, method)
	if err != nil {
		return nil, err
	}
	r, rep, err := readRequest5(br)
	if errors.Is(err, errMalformed) {
		rec := accesslog.Start(s.sink, protoSOCKS5, client)
		rec.User = user
		return nil, s.refuse5(c, rec, repGeneralFailure, tunnel.Errorf(tunnel.BadRequest, "%v", err))
	}
	if err != nil {
		s.logCutShort(protoSOCKS5, "", client, "SOCKS5 request", err)
		return nil, err
	}
	rec := accesslog.Start(s.sink, protoSOCKS5, client)
	req := &tunnel.Request{Proto: tunnel.ProtoSOCKS, Client: client, User: user}
	rec.User = user
	if rep != repSucceeded {
		return nil, s.refuse5(c, rec, rep, tunnel.Errorf(tunnel.BadRequest, "address type not supported"))
	}
	rec.Target = net.JoinHostPort(r.host, fmt.Sprint(r.port))
	// One function per command (RFC 1928 §4).
	switch r.cmd {
	case cmdConnect:
		return s.connect5(ctx, c, req, rec, r)
	case cmdBind:
		return s.bind5(ctx, c, req, rec, r)
	case cmdAssociate:
		return s.associate5(ctx, c, req, rec, r)
	}
	return nil, s.refuse5(c, rec, repCmdNotSupported, tunnel.Errorf(tunnel.BadRequest, "unknown command %d", r.cmd))
}

// connect5 serves CONNECT: authorize, dial, reply with the outbound
// conn's address; the tunnel is returned for relaying.
func (s *Server) connect5(ctx context.Context, c net.Conn, req *tunnel.Request, rec *accesslog.Record, r request5) (*granted, error) {
	rec.Method = "CONNECT"
	host, err := tunnel.CanonicalHost(r.host)
	if err != nil || r.port == 0 {
		if err == nil {
			err = tunnel.Errorf(tunnel.BadRequest, "port 0")
		}
		return nil, s.refuse5(c, rec, tunnel.KindOf(err).SOCKS5Reply(), err)
	}
	req.Host, req.Port = host, r.port
	rec.Target = req.Target() // the one form of the name (issue 20 item 3)
	server, err := s.open(ctx, req, rec)
	if err != nil {
		return nil, s.refuse5(c, rec, tunnel.KindOf(err).SOCKS5Reply(), err)
	}
	bnd, _ := netip.ParseAddrPort(server.LocalAddr().String())
	if _, err := c.Write(appendReply5(make([]byte, 0, 22), repSucceeded, bnd)); err != nil {
		server.Close()
		rec.Err = err
		rec.Finish()
		return nil, nil
	}
	return &granted{server: server, rec: rec}, nil
}

// refuse5 answers with reply rep and writes the access event.
func (s *Server) refuse5(c net.Conn, rec *accesslog.Record, rep byte, err error) error {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write(appendReply5(make([]byte, 0, 22), rep, netip.AddrPort{}))
	rec.Fail(int(rep), err)
	rec.Finish()
	return nil
}

func (s *Server) serve4(ctx context.Context, c net.Conn, br io.Reader, client netip.AddrPort) (*granted, error) {
	r, err := readRequest4(br)
	if errors.Is(err, errMalformed) {
		rec := accesslog.Start(s.sink, protoSOCKS4, client)
		return nil, s.refuse4(c, rec, tunnel.Errorf(tunnel.BadRequest, "%v", err))
	}
	if err != nil {
		s.logCutShort(protoSOCKS4, "", client, "SOCKS4 request", err)
		return nil, err
	}
	rec := accesslog.Start(s.sink, protoSOCKS4, client)
	rec.Target = net.JoinHostPort(r.host, fmt.Sprint(r.port))
	req := &tunnel.Request{Proto: tunnel.ProtoSOCKS, Client: client}
	if r.cmd != cmdConnect {
		rec.Method = "BIND"
		return nil, s.refuse4(c, rec, tunnel.Errorf(tunnel.BadRequest, "command not supported"))
	}
	rec.Method = "CONNECT"
	err = s.engine.Authenticate(ctx, req, socks4Credentials(s.engine.Listener(ctx), r.userID))
	rec.User = req.User
	if err != nil {
		return nil, s.refuse4(c, rec, err)
	}
	host, err := tunnel.CanonicalHost(r.host)
	if err != nil || r.port == 0 {
		if err == nil {
			err = tunnel.Errorf(tunnel.BadRequest, "port 0")
		}
		return nil, s.refuse4(c, rec, err)
	}
	req.Host, req.Port = host, r.port
	rec.Target = req.Target() // the one form of the name (issue 20 item 3)
	server, err := s.open(ctx, req, rec)
	if err != nil {
		return nil, s.refuse4(c, rec, err)
	}
	rec.Status = socks4Granted // the reply code, as for failures (SOCKS5's is 0)
	if _, err := c.Write(reply4(socks4Granted)); err != nil {
		server.Close()
		rec.Err = err
		rec.Finish()
		return nil, nil
	}
	return &granted{server: server, rec: rec}, nil
}

// refuse4 answers with the reply code of err's kind and writes the access
// event.
func (s *Server) refuse4(c net.Conn, rec *accesslog.Record, err error) error {
	cd := tunnel.KindOf(err).SOCKS4Reply()
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write(reply4(cd))
	rec.Fail(int(cd), err)
	rec.Finish()
	return nil
}

// open authorizes and dials, noting in rec what the engine decided.
func (s *Server) open(ctx context.Context, req *tunnel.Request, rec *accesslog.Record) (net.Conn, error) {
	out, err := s.engine.Authorize(ctx, req)
	var server net.Conn
	if err == nil {
		server, out, err = s.engine.Open(ctx, req)
	}
	rec.Note(out)
	return server, err
}

// start relays c and the granted tunnel on the relay's own goroutines;
// the access event is written and end called when the tunnel ends.
func (s *Server) start(ctx context.Context, c net.Conn, t *granted, end func()) {
	if t.assoc != nil {
		go s.relayAssociation(c, t, end)
		return
	}
	c.SetReadDeadline(time.Time{})
	if len(t.early) > 0 {
		if _, err := t.server.Write(t.early); err != nil {
			t.server.Close()
			c.Close()
			t.rec.Err = err
			t.rec.Finish()
			end()
			return
		}
	}
	tunnel.Start(ctx, c, t.server, s.engine.IdleTimeout(), func(st tunnel.Stats, err error) {
		defer end()
		t.rec.BytesUp, t.rec.BytesDown, t.rec.Err = st.Up+int64(len(t.early)), st.Down, err
		t.rec.Finish()
	})
}

// authenticate5 runs the method chosen: nothing for no auth, the RFC 1929
// exchange for username/password. A failure is answered with status 0x01
// (after the engine's delay), logged as an access event, and the
// connection is closed by the caller, as RFC 1929 §2 requires.
func (s *Server) authenticate5(ctx context.Context, c net.Conn, br io.Reader, client netip.AddrPort, method byte) (string, error) {
	req := &tunnel.Request{Proto: tunnel.ProtoSOCKS, Client: client}
	var creds tunnel.Credentials
	if method == methodUserPass {
		user, pass, err := readUserPass(br)
		if errors.Is(err, errMalformed) {
			// A clear answer (any non-zero status is a failure) and an
			// event, as for a wrong password; the caller closes.
			s.answerUserPass(c, userPassFailed)
			s.logAuthFailure(client, tunnel.Errorf(tunnel.BadRequest, "%v", err))
		}
		if err != nil {
			s.logCutShort(protoSOCKS5, "AUTH", client, "username/password message (RFC 1929)", err)
			return "", err
		}
		creds = tunnel.Credentials{Offered: true, User: user, Password: pass}
	}
	err := s.engine.Authenticate(ctx, req, creds)
	if method == methodUserPass {
		status := byte(userPassOK)
		if err != nil {
			status = userPassFailed
		}
		s.answerUserPass(c, status)
	}
	if err != nil {
		s.logAuthFailure(client, err)
		return "", err
	}
	return req.User, nil
}

// logAuthFailure writes the access event of a refused RFC 1929 exchange.
func (s *Server) logAuthFailure(client netip.AddrPort, err error) {
	rec := accesslog.Start(s.sink, protoSOCKS5, client)
	rec.Method = "AUTH"
	rec.Fail(userPassFailed, err)
	rec.Finish()
}

// logRefusal writes the access event of a handshake refused before its
// request: code is what the client was answered.
func (s *Server) logRefusal(proto, method string, client netip.AddrPort, code byte, err error) {
	rec := accesslog.Start(s.sink, proto, client)
	rec.Method = method
	rec.Fail(int(code), err)
	rec.Finish()
}

// logCutShort writes the access event of a handshake message (what) the
// client did not finish, as the HTTP front end logs a head cut short:
// it closed its side first (a bad request, 400 there) or fell silent
// until the handshake deadline (408 there), both http_request_error.
// The status is the reply of the error's kind (SOCKS5 0x01, SOCKS4 91),
// though none is sent: SOCKS has no reply to half a message (RFC 1928
// answers a request, and the client may not read one). A client that reset the
// connection is gone, and one that sent nothing asked nothing: neither is
// logged, as on HTTP.
func (s *Server) logCutShort(proto, method string, client netip.AddrPort, what string, err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		err = tunnel.Errorf(tunnel.BadRequest, "%s cut short: the client closed its side before its end", what)
	case errors.As(err, &ne) && ne.Timeout():
		err = tunnel.Errorf(tunnel.RequestTimeout, "%s incomplete after handshake_timeout", what)
	default:
		return
	}
	code := tunnel.KindOf(err).SOCKS5Reply()
	if proto == protoSOCKS4 {
		code = tunnel.KindOf(err).SOCKS4Reply()
	}
	s.logRefusal(proto, method, client, code, err)
}

// refuseVersion answers a first byte that is neither SOCKS version. An
// HTTP client pointed at a SOCKS-only listener is told so in HTTP; other
// bytes get no answer (there is none to give). Either way the refusal is
// logged.
func (s *Server) refuseVersion(c net.Conn, client netip.AddrPort, v byte) error {
	err := tunnel.Errorf(tunnel.BadRequest, "not SOCKS: first byte 0x%02x", v)
	if v >= 'A' && v <= 'Z' { // a request line's method
		err = tunnel.Errorf(tunnel.BadRequest, "an HTTP request on a SOCKS-only listener")
		const body = "ferry: this port speaks SOCKS4/5 only; use it as a SOCKS proxy\n"
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	}
	s.logRefusal(protoSOCKS5, "", client, repGeneralFailure, err)
	return err
}

// refuseWait bounds what Refuse reads: a client over max_conns gets a
// refusal in its protocol only if it says enough in time.
const refuseWait = 200 * time.Millisecond

// Refuse turns away a connection over max_conns with its protocol's own
// refusal where one can be given without serving a login: SOCKS4 gets 91
// (rejected) to its request; a SOCKS5 client that would be served without
// authentication is answered so and then refused its request with general
// failure (RFC 1928 has no "busy" before the request), and one offering
// no method served here gets "no acceptable method", as under the limit.
// A SOCKS5 client that would log in first, or is silent past refuseWait,
// is closed unanswered; its access line has the reply it would have had,
// as logCutShort's, and says why none was sent.
func (s *Server) Refuse(ctx context.Context, c net.Conn) {
	overLimit := tunnel.Errorf(tunnel.Overloaded, "over max_conns")
	client := proxyhdr.ClientOf(ctx, c)
	c.SetDeadline(time.Now().Add(refuseWait))
	br := readers.Get().(*bufio.Reader)
	br.Reset(c)
	defer func() {
		br.Reset(nil)
		readers.Put(br)
	}()
	v, err := br.ReadByte()
	switch {
	case err == nil && v == version4:
		rec := accesslog.Start(s.sink, protoSOCKS4, client)
		if r, err := readRequest4(br); err == nil {
			rec.Target = net.JoinHostPort(r.host, fmt.Sprint(r.port))
		}
		cd := tunnel.Overloaded.SOCKS4Reply()
		c.Write(reply4(cd))
		rec.Fail(int(cd), overLimit)
		rec.Finish()
	case err == nil && v == version5:
		rec := accesslog.Start(s.sink, protoSOCKS5, client)
		rep := tunnel.Overloaded.SOCKS5Reply()
		methods, err := readGreeting(br)
		method := chooseMethod(methods, s.engine.Listener(ctx).Auth, s.engine.HasUsers())
		switch {
		case err != nil:
			err = tunnel.Errorf(tunnel.Overloaded, "over max_conns; closed unanswered: %v", err)
		case method == methodNoAcceptable:
			// As serve5 answers it: a refusal that needs no login.
			c.Write([]byte{version5, methodNoAcceptable})
			rep, err = methodNoAcceptable, overLimit
		case method != methodNoAuth:
			err = tunnel.Errorf(tunnel.Overloaded, "over max_conns; closed unanswered: a login would be served first")
		default:
			err = s.refuseRequest5(c, br, rec, rep)
		}
		rec.Fail(int(rep), err)
		rec.Finish()
	default:
		s.logRefusal(protoSOCKS5, "", client, tunnel.Overloaded.SOCKS5Reply(),
			tunnel.Errorf(tunnel.Overloaded, "over max_conns; closed unanswered"))
	}
}

// refuseRequest5 answers "no authentication" and then the request with
// rep: the refusal of a client over max_conns. It returns the access
// line's error.
func (s *Server) refuseRequest5(c net.Conn, br *bufio.Reader, rec *accesslog.Record, rep byte) error {
	if _, err := c.Write([]byte{version5, methodNoAuth}); err != nil {
		return tunnel.Errorf(tunnel.Overloaded, "over max_conns; closed unanswered: %v", err)
	}
	r, _, err := readRequest5(br)
	if err != nil {
		return tunnel.Errorf(tunnel.Overloaded, "over max_conns; closed after the method reply, the request not read: %v", err)
	}
	rec.Target = net.JoinHostPort(r.host, fmt.Sprint(r.port))
	c.Write(appendReply5(make([]byte, 0, 22), rep, netip.AddrPort{}))
	return tunnel.Errorf(tunnel.Overloaded, "over max_conns")
}

// answerUserPass writes the RFC 1929 status reply.
func (s *Server) answerUserPass(c net.Conn, status byte) {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte{userPassVersion, status})
	c.SetWriteDeadline(time.Time{})
}

// socks4Credentials: SOCKS4 has only a USERID. On a listener requiring
// auth with socks4_auth set it must be "user:password"; otherwise it is
// not taken as credentials (and such a listener answers 93).
func socks4Credentials(lp tunnel.ListenerPolicy, userID string) tunnel.Credentials {
	if !lp.Auth || !lp.SOCKS4Auth || userID == "" {
		// No USERID is no credential (answered at once, as HTTP without
		// Proxy-Authorization), not a wrong one (answered after a delay).
		return tunnel.Credentials{}
	}
	user, pass, _ := strings.Cut(userID, ":")
	return tunnel.Credentials{Offered: true, User: user, Password: pass}
}

func hasMethod(methods []byte, m byte) bool {
	for _, x := range methods {
		if x == m {
			return true
		}
	}
	return false
}
