package connect

import (
	"bufio"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/connect/forward"
	"github.com/ferry-proxy/ferry/internal/http1"
	"github.com/ferry-proxy/ferry/tunnel"
	"golang.org/x/net/http/httpguts"
)

// ferry reads every HTTP/1 request itself (RFC 9112), the first of a
// connection and every later one alike, on plaintext and TLS listeners:
// a head it cannot serve gets ferry's own answer with Proxy-Status and an
// access line, never a bare one from a library.

// headLimit bounds the bytes a head may take: the conn's reads under the
// bufio.Reader stop there, so a head past it ends in io.EOF with N at 0.
type headLimit struct {
	r io.Reader
	N int64
}

func (l *headLimit) Read(p []byte) (int, error) {
	if l.N <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.N {
		p = p[:l.N]
	}
	n, err := l.r.Read(p)
	l.N -= int64(n)
	return n, err
}

// unlimited lifts headLimit once the head is read: the body's framing
// bounds it from then on.
const unlimited = math.MaxInt64

// readRequest reads one request head from br, whose reads lim bounds to
// the max_header_bytes the caller set, and parses it strictly: the
// request line (RFC 9112 §3), the fields (http1.ReadHead), Host (§3.2)
// and the body's framing (§6.3, http1.RequestFraming). A head that fails
// gets an error of the Kind to answer with (400, 414, 431, 501, 505),
// and the request as far as it was read when its request line was (for
// the refusal's access line); io.EOF is a client that sent nothing more.
func readRequest(br *bufio.Reader, lim *headLimit, limit int) (*http.Request, http1.Framing, error) {
	line, err := http1.ReadStartLine(br)
	if err != nil {
		return nil, http1.Framing{}, headError(err, line, lim, limit)
	}
	if len(line) > limit {
		// Read from what the wait for this request buffered, which the
		// limit does not bound.
		return nil, http1.Framing{}, errLineTooLong
	}
	// The line is judged before the fields are read: a client that sent
	// a line no fields can mend (HTTP/0.9's, without a version) may send
	// nothing more, and is answered now, not at the handshake deadline.
	method, target, minor, err := parseRequestLine(line)
	if err != nil {
		return nil, http1.Framing{}, err
	}
	h, err := http1.ReadFields(br)
	if err != nil {
		return nil, http1.Framing{}, headError(err, line, lim, limit)
	}
	r := &http.Request{
		Method: method, RequestURI: target, Header: h,
		Proto: "HTTP/1." + string(rune('0'+minor)), ProtoMajor: 1, ProtoMinor: minor,
	}
	// From here on r goes back with an error too, for the refusal's log.
	if err := parseTarget(r); err != nil {
		return r, http1.Framing{}, err
	}
	if err := checkHost(r); err != nil {
		return r, http1.Framing{}, err
	}
	f, err := http1.RequestFraming(1, minor, h)
	if err != nil {
		if errors.Is(err, http1.ErrUnsupportedCoding) {
			return r, f, tunnel.Errorf(tunnel.BadCoding, "unsupported transfer coding: only chunked is (RFC 9112 section 6.1)")
		}
		return r, f, tunnel.Errorf(tunnel.BadRequest, "%v", err)
	}
	if method == http.MethodConnect && (f.Chunked || f.Length > 0) {
		// RFC 9110 §9.3.6: a CONNECT has no content. What follows its
		// head is the tunnel's; a reader that took it for a body would
		// disagree with ferry on where the next message starts.
		return r, f, tunnel.Errorf(tunnel.BadRequest, "a CONNECT request has no content (RFC 9110 section 9.3.6), but this one declares a body")
	}
	r.ContentLength = f.Length
	if f.Chunked {
		r.ContentLength = -1
		r.TransferEncoding = []string{"chunked"}
		r.Trailer = http.Header{} // filled at the body's end (requestBody)
	}
	delete(h, "Transfer-Encoding")
	r.Close = !http1.KeepAlive(1, minor, h)
	return r, f, nil
}

// parseRequestLine splits a request line (RFC 9112 §3) into its method,
// target and minor version (of HTTP/1; a later 1.x is answered as 1.1,
// RFC 9110 §2.5), or says why it is none: 400, or 505 for a version
// other than HTTP/1.x.
func parseRequestLine(line string) (method, target string, minor int, err error) {
	method, rest, ok1 := strings.Cut(line, " ")
	target, version, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !isToken(method) || target == "" || strings.ContainsAny(target, " \t") || strings.Contains(version, " ") {
		return "", "", 0, tunnel.Errorf(tunnel.BadRequest,
			"malformed request line %q: want method SP target SP version (RFC 9112 section 3)", clip(line))
	}
	major, minor, ok := http1.ParseVersion(version)
	switch {
	case !ok:
		return "", "", 0, tunnel.Errorf(tunnel.BadRequest, "malformed HTTP version %q (RFC 9112 section 2.3)", clip(version))
	case major != 1:
		return "", "", 0, tunnel.Errorf(tunnel.BadVersion, "unsupported protocol version %q: want HTTP/1.x", version)
	}
	return method, target, min(minor, 1), nil
}

// headError says why a head could not be read: the limit (414 while still
// in the request line, else 431), bad syntax (400), or the client's own
// end (returned as it is).
func headError(err error, line string, lim *headLimit, limit int) error {
	switch {
	case lim.N <= 0 && line == "":
		return errLineTooLong
	case lim.N <= 0:
		return errHeadTooLarge(limit)
	case errors.Is(err, http1.ErrMalformed):
		return tunnel.Errorf(tunnel.BadRequest, "malformed request head: %v", err)
	}
	return err
}

// parseTarget reads the request-target in the form its method allows
// (RFC 9112 §3.2): authority-form for CONNECT, asterisk-form for OPTIONS,
// else origin-form (to ferry itself) or absolute-form (to forward), whose
// authority replaces Host (§3.2.2).
func parseTarget(r *http.Request) error {
	t := r.RequestURI
	switch {
	case r.Method == http.MethodConnect:
		if strings.ContainsAny(t, "/?#@") {
			return tunnel.Errorf(tunnel.BadRequest, "bad CONNECT target %q: want host:port (RFC 9110 section 9.3.6)", clip(t))
		}
		r.URL, r.Host = &url.URL{Host: t}, t
		return nil
	case t == "*":
		if r.Method != http.MethodOptions {
			return tunnel.Errorf(tunnel.BadRequest, "asterisk-form target with method %s (RFC 9112 section 3.2.4)", r.Method)
		}
		r.URL = &url.URL{Path: "*"}
	case t[0] == '/':
		u, err := url.ParseRequestURI(t)
		if err != nil {
			return tunnel.Errorf(tunnel.BadRequest, "malformed request target %q: %v", clip(t), err)
		}
		r.URL = u
	default:
		u, err := url.ParseRequestURI(t)
		if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
			return tunnel.Errorf(tunnel.BadRequest, "malformed request target %q: want a path or an absolute URI (RFC 9112 section 3.2)", clip(t))
		}
		if u.User != nil {
			// RFC 9110 §4.2.4: userinfo is deprecated in http(s) URIs and
			// a sender MUST NOT generate it; a recipient SHOULD treat it
			// as an error (it spoofs hosts: http://bank@evil/).
			return tunnel.Errorf(tunnel.BadRequest, "request target %q carries userinfo (RFC 9110 section 4.2.4)", u.Redacted())
		}
		u.Scheme = strings.ToLower(u.Scheme)
		r.URL, r.Host = u, u.Host
	}
	return nil
}

// checkHost is RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host
// field with a valid value; more than one is refused whatever the version.
// An origin-form request takes its Host from it.
func checkHost(r *http.Request) error {
	hosts := r.Header["Host"]
	switch {
	case len(hosts) > 1:
		return tunnel.Errorf(tunnel.BadRequest, "more than one Host header (RFC 9112 section 3.2)")
	case len(hosts) == 0 && r.ProtoMinor >= 1 && r.Method != http.MethodConnect:
		// CONNECT names its authority in the request line; net/http and
		// the fast path accept it without Host, and clients rely on that.
		return tunnel.Errorf(tunnel.BadRequest, "missing Host header (RFC 9112 section 3.2)")
	case len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]):
		return tunnel.Errorf(tunnel.BadRequest, "malformed Host header %q", clip(hosts[0]))
	}
	if r.Host == "" && len(hosts) == 1 {
		r.Host = hosts[0]
	}
	delete(r.Header, "Host")
	return nil
}

// clip shortens what a client sent for an error message.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}

// requestBody is a request's body as the forwarder reads it: it sends 100
// Continue before the first read when the client waits for one (RFC 9110
// §10.1.1), bounds each read by the idle timeout, counts, and says whose
// fault a failure is: a body that stops coming is RequestTimeout (408),
// bad chunked syntax BadRequest (400), a client that left errClientGone.
// At its end a chunked body's trailer fields go to the request's Trailer,
// filtered as a proxy must (forward.FilterTrailers).
//
// The forwarder reads it on a goroutine of its own (full duplex), which
// may still be reading when the response is done; stop takes the conn
// back from it.
type requestBody struct {
	hc   *httpConn
	r    *http.Request
	body *http1.Body

	mu     sync.Mutex // held by a read; stop waits for it
	invite bool       // send 100 Continue before the first read
	closed bool

	dl       sync.Mutex // orders a read's deadline against stop's
	stopping bool

	n         atomic.Int64
	touched   atomic.Bool // read or closed: a forwarder had it
	forwarded atomic.Bool // an outbound exchange took it: it reads it when it will
	done      atomic.Bool // read to its end
}

var errBodyStopped = forward.ErrBodyStopped

func (b *requestBody) Read(p []byte) (int, error) {
	b.touched.Store(true)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errBodyStopped
	}
	if b.invite {
		b.invite = false
		if err := b.hc.sendContinue(); err != nil {
			return 0, errClientGone
		}
	}
	b.dl.Lock()
	if b.stopping {
		b.dl.Unlock()
		return 0, errBodyStopped
	}
	b.hc.armRead()
	b.dl.Unlock()
	n, err := b.body.Read(p)
	b.n.Add(int64(n))
	if err != nil && err != io.EOF {
		b.dl.Lock()
		stopped := b.stopping
		b.dl.Unlock()
		if stopped {
			return n, errBodyStopped // Stop cut this read: not the client's doing
		}
	}
	switch {
	case err == io.EOF:
		b.done.Store(true)
		if t := b.body.Trailer(); len(t) > 0 && b.r.Trailer != nil {
			// Into the map the request came with: the forwarder's copy
			// of the request shares it.
			forward.FilterTrailers(t)
			for k, vv := range t {
				b.r.Trailer[k] = vv
			}
		}
	case err != nil:
		err = b.hc.bodyError(err)
	}
	return n, err
}

// Sending is told by the forwarder that the body is being sent to an
// origin: from then on an answer before its end ends the connection.
func (b *requestBody) Sending() { b.forwarded.Store(true) }

func (b *requestBody) Close() error {
	b.touched.Store(true)
	return nil
}

// Stop ends the forwarder's reads: one waiting for the client returns at
// once, later ones fail. After it the conn's reader is the front end's.
// The forwarder calls it too, to cut a read when the origin failed
// mid-upload.
func (b *requestBody) Stop() {
	b.dl.Lock()
	b.stopping = true
	b.hc.c.SetReadDeadline(time.Unix(1, 0))
	b.dl.Unlock()
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.hc.c.SetReadDeadline(time.Time{})
}

// waitingForContinue reports a client that holds its body back for a 100
// Continue it was never sent.
func (b *requestBody) waitingForContinue() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.invite
}

// bodyError maps a failed read of a request body to whose fault it is.
func (hc *httpConn) bodyError(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, http1.ErrMalformed):
		return tunnel.Errorf(tunnel.BadRequest, "request body: %v", err)
	case errors.As(err, &ne) && ne.Timeout() && hc.s.engine.IdleTimeout() > 0:
		return tunnel.Errorf(tunnel.RequestTimeout, "request body: nothing received for %v (idle_timeout)", hc.s.engine.IdleTimeout())
	}
	return errClientGone
}
