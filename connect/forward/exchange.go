package forward

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
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

// maxResponseHead bounds an origin's response head.
const maxResponseHead = 1 << 20

var errResponseHeadTooLarge = fmt.Errorf("origin response head over %d bytes", maxResponseHead)

// continueTimeout is how long a request with Expect: 100-continue waits
// for the origin's 100 before its body is sent anyway (RFC 9110 §10.1.1),
// as net/http's ExpectContinueTimeout.
const continueTimeout = time.Second

// errResponseTimeout is the response-head timeout, a net.Error with
// Timeout(), which ferry answers with 504.
type errResponseTimeout struct{ d time.Duration }

func (e errResponseTimeout) Error() string {
	return fmt.Sprintf("timeout: origin sent no response head within %v", e.d)
}
func (errResponseTimeout) Timeout() bool   { return true }
func (errResponseTimeout) Temporary() bool { return true }

// errNothingBack is a request that got not one byte of answer: on a
// reused conn that is the origin having closed it while it idled, and the
// request may be sent again (see replayable).
type errNothingBack struct{ err error }

func (e errNothingBack) Error() string { return "no response: " + e.err.Error() }
func (e errNothingBack) Unwrap() error { return e.err }

// exchange is one request on one conn: it writes the request (its body on
// a goroutine of its own, so an origin may answer before the whole body:
// full duplex) and reads the response head.
type exchange struct {
	c        *conn
	r        *http.Request
	absolute bool   // absolute-form, to an HTTP upstream
	authz    string // Proxy-Authorization for the upstream; "" none
	trace    *httptrace.ClientTrace
	timeout  time.Duration // for the response head; 0 none
	idle     time.Duration // for each read of the response body; 0 none

	body      *sentBody     // the request body as sent; nil without one
	continued chan struct{} // closed when the body may go (100, or the wait is over)
	writeErr  chan error    // the body writer's result
	mu        sync.Mutex    // deadline changes against the context's cancel
	canceled  bool
}

// maxReplay bounds the request body kept for a replay: a request that got
// no byte of answer on a reused conn is sent again with the body it had
// sent, when that was no more than this (as net/http's GetBody allows).
const maxReplay = 64 << 10

// sentBody is a request body on its way to an origin: it keeps what it
// read, up to maxReplay, so that the request can be sent again from the
// start (rewind).
type sentBody struct {
	io.Reader
	kept    []byte // what was read, while it is within maxReplay
	over    bool   // more was read: no replay
	pos     int    // a replay hands out kept[pos:] before reading on
	readErr error  // reading from the client failed: the client's doing
}

func (b *sentBody) Read(p []byte) (int, error) {
	if b.pos < len(b.kept) {
		n := copy(p, b.kept[b.pos:])
		b.pos += n
		return n, nil
	}
	n, err := b.Reader.Read(p)
	if !b.over {
		if len(b.kept)+n <= maxReplay {
			b.kept = append(b.kept, p[:n]...)
			b.pos = len(b.kept)
		} else {
			b.over, b.kept, b.pos = true, nil, 0
		}
	}
	if err != nil && err != io.EOF {
		b.readErr = err
	}
	return n, err
}

// rewind makes the body start again, if what was sent was kept whole.
func (b *sentBody) rewind() bool {
	if b.over || b.readErr != nil {
		return false
	}
	b.pos = 0
	return true
}

// roundTrip writes the request and returns the response, whose Body gives
// the conn back to the pool when read to its end with clean framing.
func (x *exchange) roundTrip(ctx context.Context, p *pool) (*http.Response, error) {
	c := x.c
	if x.timeout > 0 {
		c.nc.SetReadDeadline(time.Now().Add(x.timeout))
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
		if res.StatusCode == http.StatusContinue {
			x.proceed()
			continue
		}
		if x.trace != nil && x.trace.Got1xxResponse != nil {
			err = x.trace.Got1xxResponse(res.StatusCode, textproto.MIMEHeader(res.Header))
		}
	}
	if err != nil {
		stop()
		c.nc.Close()
		if x.writeErr != nil {
			// The writer stops at its next write to the closed conn;
			// its reads of the body are over once it has.
			x.proceed()
			x.waitBody()
			if x.body.readErr != nil {
				return nil, x.body.readErr
			}
		}
		return nil, x.classify(ctx, err)
	}
	x.proceed() // a final answer: a body still waiting for 100 is not sent
	c.limit = -1
	x.clearReadDeadline()
	if res.StatusCode == http.StatusSwitchingProtocols {
		stop()
		res.Body = &Upgraded{Conn: c.nc, Buffered: buffered(c.br)}
		return res, nil
	}
	reuse := !f.Close && http1.KeepAlive(res.ProtoMajor, res.ProtoMinor, res.Header) && !x.r.Close
	res.Body = &responseBody{x: x, p: p, body: http1.NewBody(c.br, f), stop: stop, reuse: reuse}
	if f.Chunked {
		res.ContentLength = -1
		res.Header.Del("Content-Length") // TE overrides it (RFC 9112 §6.3)
	}
	return res, nil
}

// classify turns a failed exchange into the error to answer with.
func (x *exchange) classify(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && x.timeout > 0 {
		return errResponseTimeout{x.timeout}
	}
	if x.c.read == 0 && !errors.Is(err, errResponseHeadTooLarge) {
		return errNothingBack{err}
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
	if !x.canceled {
		x.c.nc.SetReadDeadline(time.Time{})
	}
	x.mu.Unlock()
}

// writeHead writes the request line and fields, with the framing of the
// body ferry sends: its Content-Length when known, else chunked.
func (x *exchange) writeHead() error {
	r, bw := x.r, x.c.bw
	target := r.URL.RequestURI()
	if x.absolute {
		target = r.URL.Scheme + "://" + r.URL.Host + target
	}
	bw.WriteString(r.Method + " " + target + " HTTP/1.1\r\nHost: " + r.URL.Host + "\r\n")
	if x.authz != "" {
		bw.WriteString("Proxy-Authorization: " + x.authz + "\r\n")
	}
	h := r.Header
	for k, vv := range h {
		if k == "Host" || k == "Content-Length" || k == "Transfer-Encoding" {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k + ": " + v + "\r\n")
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

// bodyMethod reports a method whose request is expected to have a body:
// it gets Content-Length: 0 when it has none (RFC 9110 §8.6).
func bodyMethod(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

// startBody sends the body on its own goroutine: at once, or, with
// Expect: 100-continue, once the origin says 100 or continueTimeout has
// passed (proceed). A final answer before then means it is never sent.
func (x *exchange) startBody() {
	if s, ok := x.body.Reader.(interface{ Sending() }); ok {
		// The front end learns the body is taken: an answer before its
		// end must close the client's connection (see connect).
		s.Sending()
	}
	x.continued = make(chan struct{})
	x.writeErr = make(chan error, 1)
	wait := httpguts.HeaderValuesContainsToken(x.r.Header["Expect"], "100-continue")
	if !wait {
		close(x.continued)
	}
	go x.writeBody(wait)
}

// proceed lets a body waiting for 100 Continue go; once only.
func (x *exchange) proceed() {
	if x.continued == nil {
		return
	}
	select {
	case <-x.continued:
	default:
		close(x.continued)
	}
}

func (x *exchange) writeBody(wait bool) {
	if wait {
		t := time.NewTimer(continueTimeout)
		select {
		case <-x.continued:
		case <-t.C:
		}
		t.Stop()
	}
	var err error
	if x.r.ContentLength >= 0 {
		err = x.copyBody(x.c.bw, io.LimitReader(x.body, x.r.ContentLength))
	} else {
		cw := http1.NewChunkedWriter(x.c.bw)
		if err = x.copyBody(cw, x.body); err == nil {
			err = cw.Close(x.r.Trailer)
		}
	}
	if err == nil {
		err = x.c.bw.Flush()
	}
	if err != nil {
		// The origin will not get the whole request: end the exchange
		// rather than wait for an answer that cannot come.
		x.c.nc.Close()
	}
	x.writeErr <- err
}

// copyBody copies the request body to the origin as it comes: each read
// is sent on at once, so a streamed upload streams (full duplex).
func (x *exchange) copyBody(w io.Writer, body io.Reader) error {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
			if err := x.c.bw.Flush(); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// waitBody waits for the body's writer to end, and keeps its result for
// bodySent.
func (x *exchange) waitBody() {
	err := <-x.writeErr
	x.writeErr <- err
}

// readResponse reads one response head (a 1xx or the final one) and
// decides its body's framing.
func (x *exchange) readResponse() (*http.Response, http1.Framing, error) {
	line, h, err := http1.ReadHead(x.c.br)
	if err != nil {
		return nil, http1.Framing{}, err
	}
	vers, rest, _ := strings.Cut(line, " ")
	code, reason, _ := strings.Cut(rest, " ")
	major, minor, ok := http1.ParseVersion(vers)
	status, cerr := strconv.Atoi(code)
	if !ok || major != 1 || cerr != nil || len(code) != 3 || status < 100 {
		return nil, http1.Framing{}, fmt.Errorf("%w: status line %q", http1.ErrMalformed, line)
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

// responseBody is a response's body: read to its end it gives the conn
// back to the pool (when the framing was clean and nothing follows it),
// closed before that it closes the conn.
type responseBody struct {
	x     *exchange
	p     *pool
	body  *http1.Body
	stop  func() bool // stops the context's cancel
	reuse bool
	done  bool
}

func (b *responseBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	b.x.armRead()
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.release(true)
	} else if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && b.x.idle > 0 && !b.x.isCanceled() {
		err = tunnel.ErrIdle // the origin stopped sending for idle_timeout
	}
	return n, err
}

// Trailer is the response's trailer section, after the body's end.
func (b *responseBody) Trailer() http.Header { return b.body.Trailer() }

func (b *responseBody) Close() error {
	if !b.done {
		b.release(false)
	}
	return nil
}

// release ends the exchange: the conn goes back to the pool only if the
// whole response was read, its framing was clean, no byte follows it, and
// the request body was sent whole.
func (b *responseBody) release(complete bool) {
	b.done = true
	x := b.x
	canceled := !b.stop()
	reuse := complete && b.reuse && !canceled && x.c.br.Buffered() == 0
	if x.body != nil {
		if err := x.bodySent(); err != nil {
			reuse = false
		}
	}
	if !reuse {
		x.c.nc.Close()
		return
	}
	b.p.put(x.c)
}

// bodySent waits for the request body's writer when the response has come
// whole: an origin that answered before reading the whole body (RFC 9110
// §15.5.14, say) leaves the conn unusable, and the writer ends once the
// conn is closed.
func (x *exchange) bodySent() error {
	select {
	case err := <-x.writeErr:
		x.writeErr <- err // for a second look
		return err
	default:
		return errBodyUnsent
	}
}

var errBodyUnsent = errors.New("the request body was not sent whole before the response ended")

// Upgraded is the Body of a 101 response: the conn, switched to the new
// protocol, and what the origin sent after the 101's head. Relayed by the
// engine (tunnel.Start), spliced when the conn is a TCP socket.
type Upgraded struct {
	Conn     net.Conn
	Buffered []byte
}

func (u *Upgraded) Read(p []byte) (int, error) { return 0, io.EOF }
func (u *Upgraded) Close() error               { return nil }

// buffered takes what br has read ahead.
func buffered(br *bufio.Reader) []byte {
	n := br.Buffered()
	if n == 0 {
		return nil
	}
	b, _ := br.Peek(n)
	return append([]byte(nil), b...)
}
