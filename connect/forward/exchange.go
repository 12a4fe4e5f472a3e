package forward

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferry-proxy/ferry/internal/http1"
	"github.com/ferry-proxy/ferry/tunnel"
	"golang.org/x/net/http/httpguts"
)

// maxResponseHead bounds an origin's response head, its interim
// responses (1xx) included.
const maxResponseHead = 1 << 20

var errResponseHeadTooLarge = fmt.Errorf("origin response head over %d bytes", maxResponseHead)

// maxInterim bounds the interim responses (1xx) of one request, 100
// Continue included: tiny ones could otherwise keep an exchange going
// for ever under the head's byte bound (each resets no timer, but
// response_timeout may be off). Legitimate use is a 100, a 103 or two
// and, from some WebDAV servers, a 102 Processing every few seconds of a
// long operation (RFC 2518 §10.1): a few dozen is room for those, where
// Apache httpd's proxy stops at 10 (AP_MAX_INTERIM_RESPONSES) and Go's
// HTTP/1 client at 5.
const maxInterim = 32

var errTooManyInterim = fmt.Errorf("origin sent more than %d interim (1xx) responses", maxInterim)

// errStatusRange is a response whose status code is three digits outside
// 100-599: RFC 9110 §15 makes it invalid (such codes serve libraries'
// internal use), and a client that gets one SHOULD take it as a 5xx. The
// client of ferry cannot be told what the origin meant, so it gets 502
// with http_protocol_error, as for other responses ferry cannot pass on.
var errStatusRange = errors.New("status code outside 100-599 (RFC 9110 section 15)")

// checkStatus refuses a status code outside 100-599 (errStatusRange), on
// HTTP/1.1 and HTTP/2 alike.
func checkStatus(code int) error {
	if code < 100 || code > 599 {
		return &tunnel.Error{Kind: tunnel.BadGateway, Err: fmt.Errorf("origin sent status %d: %w", code, errStatusRange)}
	}
	return nil
}

// continueTimeout is how long a request with Expect: 100-continue waits
// for the origin's 100 before its body is sent anyway (RFC 9110 §10.1.1),
// as net/http's ExpectContinueTimeout.
const continueTimeout = time.Second

// errResponseTimeout is the response-head timeout, a net.Error with
// Timeout(), which ferry answers with 504 and RFC 9209's
// http_response_timeout (no response from the next hop in time), as
// responseTimeout wraps it.
type errResponseTimeout struct{ d time.Duration }

// responseTimeout is the error a response-head timeout of d answers with.
func responseTimeout(d time.Duration) error {
	return &tunnel.Error{Kind: tunnel.ResponseTimeout, Err: errResponseTimeout{d}}
}

func (e errResponseTimeout) Error() string {
	return fmt.Sprintf("timeout: origin sent no response head within %v", e.d)
}
func (errResponseTimeout) Timeout() bool   { return true }
func (errResponseTimeout) Temporary() bool { return true }

// errNothingBack is a request that got not one byte of answer: on a
// reused conn that is the peer (origin or upstream) having closed it as
// it idled, the keep-alive race of RFC 9112 §9.3.1, and the request may
// be sent again (see replayable).
type errNothingBack struct {
	err    error
	reused bool // on a conn that served a request before
}

func (e errNothingBack) Error() string {
	if e.reused {
		return "no response on a kept-alive connection, closed as the request went out: " + e.err.Error()
	}
	return "no response: " + e.err.Error()
}
func (e errNothingBack) Unwrap() error { return e.err }

// exchange is one request on one conn: it writes the request (its body on
// a goroutine of its own, so an origin may answer before the whole body:
// full duplex) and reads the response head.
type exchange struct {
	c        *conn
	r        *http.Request
	absolute bool          // absolute-form, to an HTTP upstream
	authz    string        // Proxy-Authorization for the upstream; "" none
	timeout  time.Duration // for the response head; 0 none
	idle     time.Duration // for each read of the response body; 0 none
	// interim takes each 1xx (route.interim); its error ends the exchange.
	interim func(code, major, minor int, h textproto.MIMEHeader) error

	body     *sentBody   // the request body as sent; nil without one
	writer   *bodyWriter // sends body; nil until it starts
	mu       sync.Mutex  // deadline changes against the context's cancel
	canceled bool
	headIn   bool // the response head is in: no head timeout any more
}

// roundTrip writes the request and returns the response, whose Body gives
// the conn back to the pool when read to its end with clean framing.
func (x *exchange) roundTrip(ctx context.Context, p *pool) (*http.Response, error) {
	c := x.c
	if x.body == nil {
		x.armHeadTimeout() // with a body: once it is sent (the writer arms it)
	}
	stop := context.AfterFunc(ctx, x.cancel)
	c.read, c.limit = 0, maxResponseHead
	err := x.writeHead()
	if err == nil && x.body != nil {
		x.startBody()
	}
	var res *http.Response
	var f http1.Framing
	for err == nil {
		res, f, err = x.readResponse()
		if err != nil || res.StatusCode >= 200 || res.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if err = x.interim(res.StatusCode, res.ProtoMajor, res.ProtoMinor, textproto.MIMEHeader(res.Header)); err == nil &&
			res.StatusCode == http.StatusContinue && x.writer != nil {
			x.writer.goAhead()
		}
	}
	if err == nil && res.StatusCode == http.StatusSwitchingProtocols {
		err = x.switched(res)
	}
	if err != nil {
		stop()
		c.nc.Close()
		if x.writer != nil {
			x.writer.stop()
			if err := x.body.clientFailed(); err != nil {
				return nil, err // the client's body failed first
			}
		}
		return nil, x.classify(ctx, err)
	}
	if x.writer != nil {
		x.writer.abort() // a final answer: a body still waiting for 100 is never read
	}
	c.limit = -1
	x.clearReadDeadline()
	if res.StatusCode == http.StatusSwitchingProtocols {
		stop()
		res.Body = &Upgraded{Conn: c.nc, Buffered: buffered(c.br)}
		return res, nil
	}
	reuse := !f.Close && http1.KeepAlive(res.ProtoMajor, res.ProtoMinor, res.Header) && !x.r.Close
	res.Body = &responseBody{x: x, p: p, body: http1.NewBody(c.br, f), stop: stop, reuse: reuse}
	if f.Chunked || f.UntilClose {
		// A Transfer-Encoding, or the close, frames the body: a
		// Content-Length beside it is not the body's (RFC 9112 §6.3).
		res.ContentLength = -1
		res.Header.Del("Content-Length")
	}
	return res, nil
}

// switched accepts a 101 only for the upgrade the request asked for, and
// only once the whole request body (if any) went out: the conn is the new
// protocol's from the 101 on (RFC 9110 §7.8, §15.2.2).
func (x *exchange) switched(res *http.Response) error {
	asked := upgradeType(x.r.Header)
	got := upgradeType(res.Header)
	if asked == "" || !httpguts.HeaderValuesContainsToken([]string{asked}, got) && !strings.EqualFold(asked, got) {
		return &tunnel.Error{Kind: tunnel.BadGateway,
			Err: fmt.Errorf("origin switched protocols to %q, which the request did not ask for (%q)", got, asked)}
	}
	if x.writer != nil {
		x.writer.abort()
		if !x.writer.finished() || x.writer.err != nil {
			return &tunnel.Error{Kind: tunnel.BadGateway,
				Err: errors.New("origin switched protocols before the whole request body was sent")}
		}
	}
	return nil
}

// classify turns a failed exchange into the error to answer with.
func (x *exchange) classify(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && x.timeout > 0 {
		return responseTimeout(x.timeout)
	}
	if x.c.read == 0 && !errors.Is(err, errResponseHeadTooLarge) {
		return errNothingBack{err: err, reused: x.c.reused}
	}
	return err
}

// cancel cuts the exchange short when the request's context ends.
func (x *exchange) cancel() {
	x.mu.Lock()
	x.canceled = true
	x.c.nc.SetDeadline(time.Unix(1, 0))
	x.mu.Unlock()
}

// armRead bounds the next read of the response body by the idle timeout,
// unless the context has ended (whose deadline in the past must stay).
func (x *exchange) armRead() {
	if x.idle <= 0 {
		return
	}
	x.mu.Lock()
	if !x.canceled {
		x.c.nc.SetReadDeadline(time.Now().Add(x.idle))
	}
	x.mu.Unlock()
}

func (x *exchange) isCanceled() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.canceled
}

// clearReadDeadline drops the response-head deadline unless the context
// has ended (whose deadline in the past must stay).
func (x *exchange) clearReadDeadline() {
	x.mu.Lock()
	x.headIn = true
	if !x.canceled {
		x.c.nc.SetReadDeadline(time.Time{})
	}
	x.mu.Unlock()
}

// armHeadTimeout starts the wait for the response head, once the whole
// request is sent (as net/http's ResponseHeaderTimeout): a slow upload is
// the request body's idle timeout's to judge, not this one's.
func (x *exchange) armHeadTimeout() {
	if x.timeout <= 0 {
		return
	}
	x.mu.Lock()
	if !x.canceled && !x.headIn {
		x.c.nc.SetReadDeadline(time.Now().Add(x.timeout))
	}
	x.mu.Unlock()
}

// writeHead writes the request line and fields, with the framing of the
// body ferry sends: its Content-Length when known, else chunked.
func (x *exchange) writeHead() error {
	r, bw := x.r, x.c.bw
	target := requestTarget(r, x.absolute)
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(target)
	bw.WriteString(" HTTP/1.1\r\n")
	http1.WriteField(bw, "Host", r.URL.Host)
	if x.authz != "" {
		http1.WriteField(bw, "Proxy-Authorization", x.authz)
	}
	h := r.Header
	for k, vv := range h {
		if k == "Host" || k == "Content-Length" || k == "Transfer-Encoding" {
			continue
		}
		for _, v := range vv {
			http1.WriteField(bw, k, v)
		}
	}
	switch {
	case x.body == nil && bodyMethod(r.Method):
		bw.WriteString("Content-Length: 0\r\n")
	case x.body == nil:
	case r.ContentLength >= 0:
		bw.WriteString("Content-Length: " + strconv.FormatInt(r.ContentLength, 10) + "\r\n")
	default:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	bw.WriteString("\r\n")
	return bw.Flush()
}

// requestTarget is the request-target ferry sends: origin-form to the
// origin, absolute-form to an HTTP upstream (RFC 9112 §3.2). An OPTIONS
// for a URI with an empty path and no query asks about the server, not a
// resource: the last proxy sends it as "*" (§3.2.4), one that is not the
// last keeps the path empty rather than make it "/".
func requestTarget(r *http.Request, absolute bool) string {
	switch {
	case serverWide(r) && absolute:
		return r.URL.Scheme + "://" + r.URL.Host
	case serverWide(r):
		return "*"
	case absolute:
		return r.URL.Scheme + "://" + r.URL.Host + pathAndQuery(r)
	}
	return pathAndQuery(r)
}

// serverWide reports an OPTIONS about the server as a whole: its URI has
// an empty path and no query (RFC 9112 §3.2.4).
func serverWide(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.URL.Path == "" && r.URL.RawQuery == "" && !r.URL.ForceQuery
}

// bodyMethod reports a method whose request is expected to have a body:
// it gets Content-Length: 0 when it has none (RFC 9110 §8.6).
func bodyMethod(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

// readResponse reads one response head (a 1xx or the final one) and
// decides its body's framing.
func (x *exchange) readResponse() (*http.Response, http1.Framing, error) {
	line, h, err := http1.ReadHead(x.c.br)
	if err != nil && x.c.limit == 0 {
		// The bound fell inside a line, which the reader then took
		// as a whole (and, say, malformed): the bound is the reason.
		err = errResponseHeadTooLarge
	}
	if err != nil {
		return nil, http1.Framing{}, err
	}
	vers, rest, _ := strings.Cut(line, " ")
	code, reason, _ := strings.Cut(rest, " ")
	major, minor, ok := http1.ParseVersion(vers)
	status, cerr := strconv.Atoi(code)
	if !ok || major != 1 || cerr != nil || len(code) != 3 || code[0] < '0' || code[0] > '9' {
		return nil, http1.Framing{}, fmt.Errorf("%w: status line %q", http1.ErrMalformed, line)
	}
	if err := checkStatus(status); err != nil {
		return nil, http1.Framing{}, err
	}
	f, err := http1.ResponseFraming(major, minor, status, x.r.Method, h)
	if err != nil {
		return nil, f, err
	}
	res := &http.Response{
		Status: code + " " + reason, StatusCode: status,
		Proto: vers, ProtoMajor: major, ProtoMinor: minor,
		Header: h, Request: x.r, ContentLength: f.Length,
	}
	if f.UntilClose {
		res.ContentLength = -1
	}
	delete(h, "Transfer-Encoding")
	return res, f, nil
}
