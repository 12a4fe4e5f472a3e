package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"

	"golang.org/x/net/proxy"
)

// withConn is the method of x/net/proxy's SOCKS5 dialer that runs the
// handshake on a conn the caller dialed. proxy.SOCKS5's own DialContext
// returns the conn wrapped in a type of its own, which would take the
// relay's splice path away; with DialWithConn ferry keeps its *net.TCPConn.
type withConn interface {
	DialWithConn(ctx context.Context, c net.Conn, network, address string) (net.Addr, error)
}

// socksConnect asks a SOCKS5 upstream, over parent, for a connection to
// addr (RFC 1928), logging in with the URL's user info (RFC 1929).
func (u *Upstream) socksConnect(ctx context.Context, parent net.Conn, addr string) (net.Conn, error) {
	var auth *proxy.Auth
	if ui := u.spec.URL.User; ui != nil {
		pass, _ := ui.Password()
		auth = &proxy.Auth{User: ui.Username(), Password: pass}
	}
	d, err := proxy.SOCKS5("tcp", u.addr, auth, nil)
	if err != nil {
		return nil, &Error{Kind: Internal, Err: fmt.Errorf("upstream %s: %w", u.name, err)}
	}
	wc, ok := d.(withConn)
	if !ok {
		return nil, &Error{Kind: Internal, Err: fmt.Errorf("upstream %s: x/net/proxy's SOCKS5 dialer has no DialWithConn", u.name)}
	}
	// x/net reports the server's reply only as text; the transcript of
	// what the server sent is parsed instead to tell its reply code.
	t := &transcript{Conn: parent}
	if _, err := wc.DialWithConn(ctx, t, "tcp", addr); err != nil {
		if k, ok := t.failure(auth != nil); ok {
			return nil, u.socksFailure(k, addr, err)
		}
		err = ctxErr(ctx, fmt.Errorf("SOCKS5 handshake with upstream %s: %w", u.name, err))
		if KindOf(err) == Timeout && t.awaitingReply(auth != nil) {
			return nil, u.answerTimeout(err) // the request taken: the parent is dialing
		}
		return nil, err
	}
	return parent, nil
}

// socksFailure classifies a SOCKS5 reply other than success.
func (u *Upstream) socksFailure(f socksFailureKind, addr string, err error) error {
	e := &Error{NextHop: u.name, Err: fmt.Errorf("upstream %s: CONNECT %s: %v", u.name, addr, errors.Unwrap(err))}
	switch f.stage {
	case socksNoMethod, socksAuthFailed:
		e.Kind = UpstreamAuth
		e.Err = fmt.Errorf("upstream %s refused ferry's credentials; check the user info in its url", u.name)
		return e
	}
	// RFC 1928 §6 replies: about the target (passed on) or the server.
	switch f.rep {
	case 0x02:
		e.Kind = Denied
	case 0x03:
		e.Kind = NetUnreachable
	case 0x04:
		e.Kind = HostUnreachable
	case 0x05:
		e.Kind = Refused
	case 0x06:
		e.Kind = Timeout
	default: // 0x01 general failure, 0x07 command, 0x08 address type
		e.Kind = UpstreamFailed
		return u.excuse(e) // a general failure: it answered, so it runs
	}
	return &targetFailure{e}
}

// SOCKS5 handshake stages a transcript can end in.
const (
	socksIncomplete = iota
	socksNoMethod
	socksAuthFailed
	socksReplied
	socksLoggedIn // a method chosen (and the login accepted), no reply yet
)

type socksFailureKind struct {
	stage int
	rep   byte
}

// transcript records what a SOCKS5 server sent during the handshake
// (bounded: the handshake is a few small messages).
type transcript struct {
	net.Conn
	got []byte
}

func (t *transcript) Read(b []byte) (int, error) {
	n, err := t.Conn.Read(b)
	if len(t.got) < 1024 {
		t.got = append(t.got, b[:n]...)
	}
	return n, err
}

// failure parses the transcript: method selection (2 bytes), the RFC
// 1929 status (2 bytes) when username/password was chosen, then the
// reply's VER REP. It reports false when the server's answer did not get
// that far (the failure was I/O or a malformed answer).
func (t *transcript) failure(offeredAuth bool) (socksFailureKind, bool) {
	return parseSOCKSTranscript(t.got, offeredAuth)
}

// awaitingReply reports whether the server took the request: it chose a
// method (and accepted the login, when there was one) and has not replied
// to the request yet.
func (t *transcript) awaitingReply(offeredAuth bool) bool {
	f, _ := parseSOCKSTranscript(t.got, offeredAuth)
	return f.stage == socksLoggedIn
}

// parseSOCKSTranscript reads the stage b got to; ok is true when that
// classifies a failure (no method, login refused, a reply).
func parseSOCKSTranscript(b []byte, offeredAuth bool) (socksFailureKind, bool) {
	if len(b) < 2 || b[0] != 0x05 {
		return socksFailureKind{}, false
	}
	method := b[1]
	b = b[2:]
	switch {
	case method == 0xff:
		return socksFailureKind{stage: socksNoMethod}, true
	case method == 0x02 && offeredAuth:
		if len(b) < 2 {
			return socksFailureKind{}, false
		}
		if b[1] != 0x00 {
			return socksFailureKind{stage: socksAuthFailed}, true
		}
		b = b[2:]
	case method != 0x00:
		return socksFailureKind{}, false
	}
	switch {
	case len(b) < 2:
		return socksFailureKind{stage: socksLoggedIn}, false
	case b[0] != 0x05:
		return socksFailureKind{}, false
	}
	return socksFailureKind{stage: socksReplied, rep: b[1]}, true
}
