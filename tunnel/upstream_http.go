package tunnel

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/internal/netx"
)

// maxConnectHead bounds an upstream's answer to CONNECT: a status line
// and a few headers; anything larger is not a proxy we can talk to.
const maxConnectHead = 16 << 10

// connect asks an HTTP upstream, over parent, for a tunnel to addr (RFC
// 9110 §9.3.6) and reads its answer without reading past it, so that on
// a plain TCP parent the conn returned is the parent conn itself and the
// relay can splice it.
func (u *Upstream) connect(ctx context.Context, parent net.Conn, addr string) (net.Conn, error) {
	stop := deadlineFrom(ctx, parent)
	defer stop()

	var b strings.Builder
	b.WriteString("CONNECT ")
	b.WriteString(addr)
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(addr)
	b.WriteString("\r\n")
	head, c, err := u.ask(ctx, parent, "CONNECT", &b)
	if err != nil {
		return nil, err
	}
	if err := u.connectAnswer(head, addr); err != nil {
		return nil, err
	}
	return c, nil
}

// ask sends the request head in b (its fields so far: ask adds
// Proxy-Authorization and the empty line) to the upstream on parent, and
// reads its answer's head, taking nothing past it (readHead), so a plain
// TCP parent still splices. what names the request in errors.
func (u *Upstream) ask(ctx context.Context, parent net.Conn, what string, b *strings.Builder) ([]byte, net.Conn, error) {
	if u.authz != "" {
		b.WriteString("Proxy-Authorization: ")
		b.WriteString(u.authz)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(parent, b.String()); err != nil {
		return nil, nil, ctxErr(ctx, fmt.Errorf("send %s to upstream %s: %w", what, u.name, err))
	}
	head, c, err := readHead(parent, maxConnectHead)
	switch {
	case err == nil:
		return head, c, nil
	case errors.Is(err, errHeadTooBig):
		return nil, nil, &Error{Kind: BadGateway, Err: fmt.Errorf("upstream %s: %w", u.name, err)}
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, nil, &Error{Kind: BadGateway, Err: fmt.Errorf("upstream %s closed the connection without answering %s", u.name, what)}
	}
	err = ctxErr(ctx, fmt.Errorf("read %s answer of upstream %s: %w", what, u.name, err))
	if KindOf(err) == Timeout {
		return nil, nil, u.answerTimeout(err) // sent: the parent is dialing
	}
	return nil, nil, err
}

// connectAnswer classifies the upstream's answer to CONNECT addr: 2xx is
// a tunnel; failures the upstream says are the target's are passed on
// (targetFailure); the others are the upstream's.
func (u *Upstream) connectAnswer(head []byte, addr string) error {
	a, err := parseConnectHead(head)
	if err != nil {
		return &Error{Kind: BadGateway, Err: fmt.Errorf("upstream %s: %w", u.name, err)}
	}
	return u.connectReplyError(a, addr)
}

// connectReplyError is connectAnswer's verdict on a parsed answer, over
// HTTP/1.1 or HTTP/2: nil for 2xx.
func (u *Upstream) connectReplyError(a connectReply, addr string) error {
	if a.status >= 200 && a.status < 300 {
		return nil
	}
	msg := fmt.Sprintf("upstream %s answered CONNECT %s with %d%s", u.name, addr, a.status, a.why())
	e := &Error{Kind: UpstreamFailed, Received: a.status, NextHop: u.name, Err: errors.New(msg)}
	switch {
	case a.status == http.StatusProxyAuthRequired:
		e.Kind = UpstreamAuth
		e.Err = fmt.Errorf("upstream %s refused ferry's credentials (407); check the user info in its url", u.name)
		return e
	case a.status == http.StatusForbidden:
		// The upstream's own policy: the client is told as by ferry's.
		e.Kind = Denied
		if a.errType == "destination_ip_prohibited" {
			e.Kind = DeniedIP
		}
		return &targetFailure{e}
	case a.status == http.StatusBadRequest:
		e.Kind = BadRequest
		return &targetFailure{e}
	}
	if k, ok := targetKinds[a.errType]; ok && a.status >= 500 {
		e.Kind = k
		return &targetFailure{e}
	}
	// A failure of its own without a word about the target (a 5xx
	// without an RFC 9209 error type, as squid answers a name that does
	// not resolve): it answered, so it runs (excuse). Squid's
	// X-Squid-Error names the cause, which the client and the log get;
	// whether it counts stays the excuse's to say, as for any bare 5xx
	// (README "Failures"): squid names its own failures the same way.
	if k, ok := a.squidKind(); ok {
		e.Kind = k
	}
	return u.excuse(e)
}

// AnswerError is why an answer of u's to a plain-HTTP request failed, as
// the answer says it: a 5xx whose last Proxy-Status member has an error
// type of a server error that ferry knows (targetKinds), or else whose
// X-Squid-Error names one (squidKind). nil when the answer did not fail or
// says nothing ferry can read. It names u and the status received; the
// answer itself goes to the client as it came, and it is an answer: u's
// health is as after any other (it worked).
func (u *Upstream) AnswerError(status int, h http.Header) error {
	if status < 500 {
		return nil
	}
	a := replyOf(status, h)
	k, ok := targetKinds[a.errType]
	if !ok || k.HTTPStatus() < 500 {
		if k, ok = a.squidKind(); !ok {
			return nil
		}
	}
	return &Error{Kind: k, NextHop: u.name, Received: status,
		Err: fmt.Errorf("upstream %s answered %d%s", u.name, status, a.why())}
}

// targetKinds are the RFC 9209 error types with which an upstream says
// the target failed, not itself (§2.3): the client gets the same answer
// it would get from ferry, and the upstream is not marked down.
var targetKinds = map[string]Kind{
	"dns_error":                 DNSFailed,
	"dns_timeout":               Timeout,
	"destination_ip_unroutable": HostUnreachable,
	"connection_refused":        Refused,
	"connection_timeout":        Timeout,
	"destination_ip_prohibited": DeniedIP,
	"http_request_denied":       Denied,
}

// connectReply is what ferry reads of an upstream's answer.
type connectReply struct {
	status           int
	errType, details string // the last Proxy-Status member's error and details
	squid            string // X-Squid-Error, when Proxy-Status has no error type
}

// replyOf reads the answer with status and fields h.
func replyOf(status int, h http.Header) connectReply {
	r := connectReply{status: status}
	r.errType, r.details = lastProxyStatusError(h.Values("Proxy-Status"))
	if r.errType == "" {
		r.squid = h.Get("X-Squid-Error")
	}
	return r
}

// why is what the answer says of its failure, for a message: " (its
// error type: details)" or " (X-Squid-Error: ...)", "" when nothing.
func (a connectReply) why() string {
	switch {
	case a.errType != "" && a.details != "":
		return " (" + a.errType + ": " + a.details + ")"
	case a.errType != "":
		return " (" + a.errType + ")"
	case a.squid != "":
		return " (X-Squid-Error: " + clip(a.squid, 64) + ")"
	}
	return ""
}

// squidKind is the kind of failure a 5xx's X-Squid-Error names.
func (a connectReply) squidKind() (Kind, bool) {
	if a.status < 500 {
		return OK, false
	}
	return squidErrorKind(a.squid)
}

// parseConnectHead parses a response head (status line, headers, blank
// line) to CONNECT.
func parseConnectHead(head []byte) (connectReply, error) {
	req := &http.Request{Method: http.MethodConnect}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), req)
	if err != nil {
		return connectReply{}, fmt.Errorf("bad answer to CONNECT: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		return connectReply{}, fmt.Errorf("bad answer to CONNECT: status %d", resp.StatusCode)
	}
	return replyOf(resp.StatusCode, resp.Header), nil
}

// ctxErr reports an I/O error after the dial context ended as the
// context's timeout or cancellation, which is why the I/O failed.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		var ne net.Error
		if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			return &Error{Kind: Timeout, Err: fmt.Errorf("%v: no answer in time", err)}
		}
	}
	return err
}

// deadlineFrom applies ctx's deadline to c for a handshake, and expires it
// at once if ctx is cancelled; stop undoes both.
func deadlineFrom(ctx context.Context, c net.Conn) (stop func()) {
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	cancel := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	return func() {
		if cancel() {
			c.SetDeadline(time.Time{})
		}
	}
}

var errHeadTooBig = errors.New("answer head larger than " + strconv.Itoa(maxConnectHead) + " bytes")

// readHead reads an HTTP response head from c and nothing after it: it
// peeks (netx.Peek) until the blank line that ends the head shows, then
// reads exactly the head. The conn returned is c, on Linux still the
// *net.TCPConn the relay can splice, with the target's first bytes still
// in the socket; or c with what was read past the head to replay (TLS,
// off Linux). An upstream that closes half way is noticed at once, one
// that stops is cut off by the dial deadline.
func readHead(c net.Conn, limit int) ([]byte, net.Conn, error) {
	b, c, err := netx.Peek(c, make([]byte, min(limit, 4096)), limit, func(b []byte) bool { return headLen(b) > 0 })
	n := headLen(b)
	switch {
	case err != nil:
		return nil, nil, err
	case n < 0:
		return nil, nil, errHeadTooBig
	}
	head := b[:n]
	if _, err := io.ReadFull(c, head); err != nil {
		return nil, nil, err
	}
	return head, c, nil
}

// headLen is the length of the head at the start of b, blank line
// included, or -1 before it has come. Lines end in CRLF, or in a bare LF,
// which a recipient may accept (RFC 9112 §2.2).
func headLen(b []byte) int {
	n := -1
	if i := bytes.Index(b, []byte("\n\r\n")); i >= 0 {
		n = i + 3
	}
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 && (n < 0 || i+2 < n) {
		n = i + 2
	}
	return n
}
