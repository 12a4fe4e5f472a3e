package connect

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
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
	if ps := kind.ProxyStatus(); ps != "" {
		h.Set("Proxy-Status", proxyStatus(ps, err.Error())+nextHopParams(err))
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

// proxyStatus formats a Proxy-Status member for ferry (RFC 9209 §2) with
// details as a structured-field string: printable ASCII, quotes escaped.
func proxyStatus(errType, details string) string {
	var b strings.Builder
	b.WriteString(`ferry; error=`)
	b.WriteString(errType)
	b.WriteString(`; details=`)
	sfString(&b, details, 256)
	return b.String()
}

// sfString writes the first max bytes of s as an RFC 8941 §3.3.3 string.
func sfString(b *strings.Builder, s string, max int) {
	b.WriteByte('"')
	for i := 0; i < len(s) && i < max; i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// nextHopParams are the Proxy-Status parameters naming the upstream that
// failed or reported the failure and the status it answered (RFC 9209
// §2.1.2 next-hop, §2.1.4 received-status), "" for ferry's own dials.
func nextHopParams(err error) string {
	hop, received := tunnel.NextHopOf(err)
	if hop == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString(`; next-hop=`)
	sfString(&b, hop, 64)
	if received > 0 {
		b.WriteString("; received-status=")
		b.WriteString(strconv.Itoa(received))
	}
	return b.String()
}

var errClientGone = forward.ErrClientGone
