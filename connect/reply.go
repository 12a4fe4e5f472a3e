package connect

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
)

// fail answers a request that ferry could not serve: the status comes from
// the error's Kind, the reason goes in the text body and, for programs, in
// a Proxy-Status header (RFC 9209).
func fail(w http.ResponseWriter, rec *accesslog.Record, err error) {
	kind := tunnel.KindOf(err)
	status := kind.HTTPStatus()
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if ps := kind.ProxyStatus(); ps != "" {
		h.Set("Proxy-Status", proxyStatus(ps, err.Error()))
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, "ferry: %s: %s\n", http.StatusText(status), err)
	tunnel.RecordFailure(rec, status, err)
}

// proxyStatus formats a Proxy-Status member for ferry (RFC 9209 §2) with
// details as a structured-field string: printable ASCII, quotes escaped.
func proxyStatus(errType, details string) string {
	var b strings.Builder
	b.WriteString(`ferry; error=`)
	b.WriteString(errType)
	b.WriteString(`; details="`)
	for i := 0; i < len(details) && i < 256; i++ {
		c := details[i]
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
	return b.String()
}

var errClientGone = errors.New("client went away")
