package connect

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/internal/http1"
	"github.com/ferry-proxy/ferry/limit"
	"golang.org/x/net/http/httpguts"
)

// response is the http.ResponseWriter of one request on an httpConn:
// ferry's own answers and forwarded responses alike. It frames the body
// by the Content-Length set in the header, else chunked to an HTTP/1.1
// client (with the trailer fields set under http.TrailerPrefix), else by
// closing the connection; it sends no body for HEAD, 1xx, 204 and 304.
// Each write is bounded by the idle timeout. It adds Date when missing and
// Connection: close when the connection ends after it, and never guesses a
// Content-Type.
type response struct {
	hc          *httpConn
	r           *http.Request
	header      http.Header
	status      int
	wroteHeader bool
	noBody      bool
	length      int64 // the Content-Length sent; -1 none
	written     int64
	chunked     *http1.ChunkedWriter
	closeAfter  bool         // the connection ends after this response
	headEnd     int          // bytes in the write buffer once the final head was in it; 0 once any may have left
	err         error        // a failed write: the connection is done
	answerBy    time.Time    // ferry's own answer: every write done by then
	meter       *limit.Meter // the request's byte quotas, counted as the body goes; nil when none
}

// arm bounds the next write: by the idle timeout, or, for ferry's own
// answer, by its fixed deadline.
func (w *response) arm() {
	if !w.answerBy.IsZero() {
		w.hc.c.SetWriteDeadline(w.answerBy)
		return
	}
	w.hc.armWrite()
}

// answering marks w as carrying ferry's own answer (a refusal, an error,
// the block page): it must be written within handshake_timeout, so a client
// that does not read cannot hold it (issue 20 item 10).
func (w *response) answering() {
	w.answerBy = time.Now().Add(w.hc.s.cfg.HandshakeTimeout)
}

func newResponse(hc *httpConn, r *http.Request) *response {
	return &response{hc: hc, r: r, header: http.Header{}, length: -1}
}

func (w *response) Header() http.Header { return w.header }

// WriteHeader sends an interim response at once (but 101, which is
// final), or fixes the final status and framing; the head of a final one
// goes out with the first body bytes or at the end.
func (w *response) WriteHeader(code int) {
	if w.wroteHeader || w.err != nil {
		return
	}
	w.hc.wmu.Lock()
	defer w.hc.wmu.Unlock()
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.writeInterim(code)
		return
	}
	w.wroteHeader, w.status = true, code
	w.hc.finalHead = true
	h := w.header
	if code == http.StatusNoContent {
		h.Del("Content-Length") // RFC 9110 §8.6: never on a 204
	}
	w.noBody = w.r.Method == http.MethodHead || code == http.StatusNoContent ||
		code == http.StatusNotModified || code == http.StatusSwitchingProtocols
	if cl := h.Get("Content-Length"); cl != "" && code != http.StatusSwitchingProtocols {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.length = n
		} else {
			h.Del("Content-Length")
		}
	}
	w.closeAfter = w.closeAfter || w.r.Close || w.hc.s.closing.Load() ||
		httpguts.HeaderValuesContainsToken(h["Connection"], "close")
	if b, ok := w.r.Body.(*requestBody); ok && b.forwarded.Load() && !b.done.Load() && code != http.StatusSwitchingProtocols {
		// Answered before the whole request body (an origin's 413 to an
		// upload, say): the connection cannot carry another request, and
		// the rest of the body is drained after the answer, so the client
		// reads it rather than a reset.
		w.closeAfter = true
	}
	chunk := !w.noBody && w.length < 0 && w.r.ProtoMinor >= 1
	if !w.noBody && w.length < 0 && !chunk {
		w.closeAfter = true // HTTP/1.0: the close ends the body
	}
	bw := w.hc.bw
	w.arm()
	from := bw.Buffered()
	http1.WriteStatusLine(bw, code, statusText(code))
	if _, ok := h["Date"]; !ok && code != http.StatusSwitchingProtocols {
		bw.WriteString("Date: ")
		bw.Write(time.Now().UTC().AppendFormat(bw.AvailableBuffer(), http.TimeFormat))
		bw.WriteString("\r\n")
	}
	for k, vv := range h {
		if k == "Transfer-Encoding" || k == "Trailer" || strings.HasPrefix(k, http.TrailerPrefix) ||
			k == "Connection" && code != http.StatusSwitchingProtocols {
			continue
		}
		if vv == nil {
			continue // deleted on purpose (no Content-Type of ferry's guessing)
		}
		for _, v := range vv {
			http1.WriteField(bw, k, v)
		}
	}
	switch {
	case code == http.StatusSwitchingProtocols:
	case w.closeAfter:
		bw.WriteString("Connection: close\r\n")
	case w.r.ProtoMinor == 0:
		bw.WriteString("Connection: keep-alive\r\n")
	}
	if chunk {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		w.chunked = http1.NewChunkedWriter(bw)
	}
	_, w.err = bw.WriteString("\r\n")
	if from == 0 && w.err == nil {
		w.headEnd = bw.Buffered()
	}
}

// retract takes back a final head none of which has left ferry: it and
// the body bytes after it are all still in the write buffer (a body that
// is not chunked and was never flushed). A response whose origin failed
// before that point can then get ferry's own answer (502 with
// Proxy-Status) rather than a silent close. It reports whether it could;
// the connection ends after the answer.
func (w *response) retract() bool {
	w.hc.wmu.Lock()
	defer w.hc.wmu.Unlock()
	bw := w.hc.bw
	if !w.wroteHeader || w.err != nil || w.chunked != nil || w.headEnd == 0 ||
		int64(bw.Buffered()) != int64(w.headEnd)+w.written {
		return false
	}
	bw.Reset(w.hc.c) // drops what was buffered
	clear(w.header)
	w.wroteHeader, w.status, w.noBody, w.length, w.written, w.headEnd = false, 0, false, -1, 0, 0
	w.closeAfter = true
	return true
}

func (w *response) writeInterim(code int) {
	if w.r.ProtoMinor == 0 {
		return // RFC 9110 §15.2: never to an HTTP/1.0 client
	}
	bw := w.hc.bw
	w.arm()
	http1.WriteStatusLine(bw, code, statusText(code))
	for k, vv := range w.header {
		for _, v := range vv {
			http1.WriteField(bw, k, v)
		}
	}
	bw.WriteString("\r\n")
	w.err = bw.Flush()
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Status " + strconv.Itoa(code)
}

var errBodyTooLong = errors.New("response body longer than its Content-Length")

func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.noBody {
		return len(p), nil // HEAD: the length was said, the bytes are not sent
	}
	var tooLong bool
	if w.length >= 0 && w.written+int64(len(p)) > w.length {
		p, tooLong = p[:w.length-w.written], true // what fits goes out
	}
	w.hc.wmu.Lock()
	w.arm()
	var n int
	if w.chunked != nil {
		n, w.err = w.chunked.Write(p)
	} else {
		n, w.err = w.hc.bw.Write(p)
	}
	w.hc.wmu.Unlock()
	w.written += int64(n)
	if w.err == nil && tooLong {
		w.err = errBodyTooLong
	}
	if w.meter != nil {
		// A quota spent while the body goes ends the response there,
		// as it ends a tunnel (issue 18 item 2).
		w.meter.Add(int64(n))
		if w.err == nil {
			w.err = w.meter.Stopped()
		}
	}
	return n, w.err
}

// Flush sends what is buffered (http.Flusher, for streamed responses).
func (w *response) Flush() { w.FlushError() }

// FlushError is Flush with its error, as http.ResponseController wants.
func (w *response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return w.err
	}
	w.hc.wmu.Lock()
	defer w.hc.wmu.Unlock()
	w.arm()
	w.headEnd = 0
	w.err = w.hc.bw.Flush()
	return w.err
}

// SetWriteDeadline and SetReadDeadline let http.ResponseController reach
// the conn.
func (w *response) SetWriteDeadline(t time.Time) error { return w.hc.c.SetWriteDeadline(t) }
func (w *response) SetReadDeadline(t time.Time) error  { return w.hc.c.SetReadDeadline(t) }

// finish ends the response: the head if nothing was written, the last
// chunk with the trailer fields, and a flush. It reports whether the
// connection may carry another request: a body shorter than its
// Content-Length, or a failed write, ends it.
func (w *response) finish() bool {
	if !w.wroteHeader {
		if _, ok := w.header["Content-Length"]; !ok {
			w.header.Set("Content-Length", "0")
		}
		w.WriteHeader(http.StatusOK)
	}
	w.hc.wmu.Lock()
	if w.err == nil && w.chunked != nil {
		w.arm()
		w.err = w.chunked.Close(w.trailer())
	}
	if w.err == nil {
		w.arm()
		w.err = w.hc.bw.Flush()
	}
	w.hc.wmu.Unlock()
	short := !w.noBody && w.length >= 0 && w.written < w.length
	return w.err == nil && !short && !w.closeAfter
}

// trailer collects the trailer fields set under http.TrailerPrefix.
func (w *response) trailer() http.Header {
	var t http.Header
	for k, vv := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			if t == nil {
				t = http.Header{}
			}
			t[http.CanonicalHeaderKey(name)] = vv
		}
	}
	return t
}
