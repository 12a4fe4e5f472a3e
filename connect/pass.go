package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
	"golang.org/x/net/http/httpguts"
)

// pass is the forward of a request that does not ask to switch
// protocols: what httputil.ReverseProxy.ServeHTTP does with ferry's
// Rewrite, step for step, less the copies a library must make. The
// request is ferry's own, so its header is changed in place instead of
// cloned (net/http reads no request header once the handler runs), and
// the one client trace of serveForward also forwards 1xx responses.
// Upgrades still go through ReverseProxy (serveForward), which owns the
// hijack and the two copy directions.
//
// It returns the error of the response body copy, after which the
// response is cut short: the caller aborts the client connection
// (http.ErrAbortHandler), as ReverseProxy does.
func (s *Server) pass(w http.ResponseWriter, out *http.Request, fw *forward) error {
	h := out.Header
	// Read before the hop-by-hop headers go: the rewrite may keep the
	// client's forwarding headers, and TE: trailers is hop-by-hop but
	// says the client takes trailers (Go issue 21096).
	in := inbound{
		remoteAddr: out.RemoteAddr, host: out.Host, tls: out.TLS != nil,
		major: out.ProtoMajor, minor: out.ProtoMinor,
		forwarded: [...][]string{h["Forwarded"], h["X-Forwarded-For"], h["X-Forwarded-Host"], h["X-Forwarded-Proto"]},
	}
	trailers := httpguts.HeaderValuesContainsToken(h["Te"], "trailers")

	if out.ContentLength == 0 {
		out.Body = nil // no body: the transport may retry on another conn
	}
	if out.Body != nil {
		// The transport closes the body it was given even on failure,
		// and its write loop may read it after the handler returned.
		body := &noopCloseReader{ReadCloser: out.Body}
		out.Body = body
		defer body.Close()
	}
	out.Close = false
	removeHopByHop(h)
	if trailers {
		h.Set("Te", "trailers")
	}
	for _, k := range forwardingHeaders {
		delete(h, k)
	}
	out.URL.RawQuery = cleanQueryParams(out.URL.RawQuery)
	s.rewriteOut(out, &in)
	if _, ok := h["User-Agent"]; !ok {
		h.Set("User-Agent", "") // not Go's default
	}

	res, err := s.origin.RoundTrip(out)
	fw.mu.Lock()
	fw.roundTripDone = true
	fw.mu.Unlock()
	if err != nil {
		s.proxyError(w, out, err)
		return nil
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		// Nothing asked for it (upgrades go through ReverseProxy).
		s.modifyResponse(res)
		res.Body.Close()
		s.proxyError(w, out, fmt.Errorf("backend tried to switch protocol %q when %q was requested",
			upgradeType(res.Header), ""))
		return nil
	}
	removeHopByHop(res.Header)
	s.modifyResponse(res)

	dst := w.Header()
	for k, vv := range res.Header {
		// The response is ferry's own: its values are handed on, not
		// copied.
		if prior, ok := dst[k]; ok {
			dst[k] = append(prior, vv...)
		} else {
			dst[k] = vv
		}
	}
	if _, ok := res.Header["Content-Type"]; !ok {
		// net/http would add one guessed from the body; a proxy passes
		// the origin's message as it is (RFC 9110 §8.3: without a
		// Content-Type the recipient may guess, not the intermediary).
		dst["Content-Type"] = nil
	}
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		dst.Add("Trailer", strings.Join(keys, ", "))
	}
	if fw.body != nil && !fw.body.eof.Load() {
		// The origin answers before it has the whole request (a 413 to
		// an upload, say): this connection cannot carry another request,
		// and the rest of the body is drained after the answer
		// (serveForward), so the client reads it rather than a reset.
		dst.Set("Connection", "close")
		fw.body.answeredEarly.Store(true)
	}
	w.WriteHeader(res.StatusCode)

	rc := http.NewResponseController(w)
	streaming := isStreaming(res)
	if streaming {
		// Server-sent events and bodies of unknown length go out as they
		// come, the head first.
		rc.Flush()
	}
	watch := watchIdle(s.engine.IdleTimeout(), func() {
		// Unblocks both ends: the origin's read (the request's
		// context) and a write to a client that stopped reading.
		fw.cancel(tunnel.ErrIdle)
		rc.SetWriteDeadline(time.Now())
	})
	err = s.copyBody(watch.writer(w), watch.reader(res.Body), rc, streaming)
	if watch.stop() {
		err = tunnel.ErrIdle
	}
	if err != nil {
		res.Body.Close()
		return err
	}
	res.Body.Close() // now, to fill res.Trailer

	if len(res.Trailer) > 0 {
		// Chunked, so that net/http does not frame a short body with a
		// Content-Length and drop the trailers.
		rc.Flush()
	}
	if len(res.Trailer) == announced {
		for k, vv := range res.Trailer {
			for _, v := range vv {
				dst.Add(k, v)
			}
		}
		return nil
	}
	for k, vv := range res.Trailer {
		k = http.TrailerPrefix + k
		for _, v := range vv {
			dst.Add(k, v)
		}
	}
	return nil
}

// copyBody copies the response body to the client through a pooled
// buffer, flushing after each write when streaming.
func (s *Server) copyBody(w io.Writer, body io.Reader, rc *http.ResponseController, streaming bool) error {
	bp := copyBuffers.pool.Get().(*[]byte) // the pointer back, not a new one (bufferPool.Put)
	defer copyBuffers.pool.Put(bp)
	buf := *bp
	for {
		nr, rerr := body.Read(buf)
		if rerr != nil && rerr != io.EOF && !errors.Is(rerr, context.Canceled) {
			s.log.Debug().Err(rerr).Msg("origin read error during body copy")
		}
		if nr > 0 {
			nw, werr := w.Write(buf[:nr])
			if werr != nil {
				return werr
			}
			if nw != nr {
				return io.ErrShortWrite
			}
			if streaming {
				rc.Flush()
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

// isStreaming tells whether a response must reach the client as it comes:
// server-sent events, or a body of unknown length.
func isStreaming(res *http.Response) bool {
	if res.ContentLength == -1 {
		return true
	}
	ct := res.Header.Get("Content-Type")
	if ct == "" {
		return false
	}
	// mime.ParseMediaType only when it may say text/event-stream: it
	// allocates, and most responses are something else.
	base, _, _ := strings.Cut(ct, ";")
	if !strings.EqualFold(strings.TrimSpace(base), "text/event-stream") {
		return false
	}
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "text/event-stream"
}

// got1xx forwards an interim response to the client, unless the final one
// has arrived (RFC 9110 §15.2).
func (fw *forward) got1xx(code int, header textproto.MIMEHeader) error {
	if code == http.StatusContinue {
		// The client's 100 is net/http's to send: it does when the
		// transport starts reading the body, which is what the origin's
		// 100 starts. Forwarding the origin's too raced that one (the
		// transport reads the body before it hands the 100 to the trace):
		// now and then the client got two.
		return nil
	}
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.roundTripDone {
		return nil
	}
	h := fw.w.Header()
	for k, vv := range header {
		for _, v := range vv {
			h.Add(k, v)
		}
	}
	fw.w.WriteHeader(code)
	clear(h) // WriteHeader keeps them for the final response otherwise
	return nil
}

// inbound is what the rewrite needs of the request as the client sent it.
type inbound struct {
	remoteAddr string
	host       string
	tls        bool
	major      int
	minor      int
	forwarded  [len(forwardingHeaders)][]string // the client's, in forwardingHeaders order
}

// forwardingHeaders are the headers by which proxies tell about clients;
// the rewrite decides which of the client's go on (Config.Forwarded).
var forwardingHeaders = [...]string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}

// hopHeaders are hop-by-hop whether or not Connection names them
// (RFC 9110 §7.6.1; Proxy-Connection and Keep-Alive are still sent).
var hopHeaders = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// removeHopByHop removes the headers named in Connection and the
// hop-by-hop ones (RFC 9110 §7.6.1).
func removeHopByHop(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// upgradeType is the protocol a request or response asks to switch to,
// "" for none (RFC 9110 §7.8).
func upgradeType(h http.Header) string {
	if !httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

// maxQueryParams is net/url's bound on query parameters.
const maxQueryParams = 10000

// cleanQueryParams re-encodes a query net/url would not parse the same
// way as the origin might (a ';' separator, a bad escape), as
// ReverseProxy does: the origin sees the query the proxy understood.
func cleanQueryParams(s string) string {
	reencode := func(s string) string {
		v, _ := url.ParseQuery(s)
		return v.Encode()
	}
	if strings.Count(s, "&")+1 > maxQueryParams {
		return reencode(s)
	}
	for i := 0; i < len(s); {
		switch s[i] {
		case ';':
			return reencode(s)
		case '%':
			if i+2 >= len(s) || !ishex(s[i+1]) || !ishex(s[i+2]) {
				return reencode(s)
			}
			i += 3
		default:
			i++
		}
	}
	return s
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// noopCloseReader keeps the client's request body open when the transport
// closes it, and refuses reads after the handler is done with it.
type noopCloseReader struct {
	io.ReadCloser
	closed atomic.Bool
}

func (r *noopCloseReader) Close() error {
	r.closed.Store(true)
	return nil
}

func (r *noopCloseReader) Read(p []byte) (int, error) {
	if r.closed.Load() {
		return 0, errReadAfterClose
	}
	return r.ReadCloser.Read(p)
}

var errReadAfterClose = errors.New("connect: read of a request body after the handler returned")
