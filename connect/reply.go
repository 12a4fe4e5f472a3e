package connect

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/ferry-proxy/ferry/connect/forward"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
)

// fail answers a request that ferry could not serve: the status comes from
// the error's Kind, the reason goes in the text body and, for programs, in
// a Proxy-Status header (RFC 9209).
func fail(w http.ResponseWriter, rec *accesslog.Record, err error) {
	bounded(w)
	kind := tunnel.KindOf(err)
	status := kind.HTTPStatus()
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if ps := tunnel.ProxyStatus(err); ps != "" {
		h.Set("Proxy-Status", ps)
	}
	if d := tunnel.RetryAfterOf(err); d > 0 {
		h.Set("Retry-After", strconv.Itoa(int(d/time.Second))) // RFC 9110 §10.2.3
	}
	msg := fmt.Sprintf("ferry: %s: %s\n", http.StatusText(status), err)
	// A length, so the answer is complete once flushed (see settle).
	h.Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(status)
	io.WriteString(w, msg)
	rec.Fail(status, err)
}

// bounded gives ferry's own answer on w a write deadline of its own, where
// w has one to give (the fast path's answers carry one already).
func bounded(w http.ResponseWriter) {
	if r, ok := w.(*response); ok {
		r.answering()
	}
}

var errClientGone = forward.ErrClientGone
