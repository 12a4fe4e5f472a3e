package connect

import (
	"net/http"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
)

// serveExtendedConnect answers an extended CONNECT (RFC 8441 §4): a
// CONNECT whose :protocol names what the stream is to carry.
func (h *h2Conn) serveExtendedConnect(w http.ResponseWriter, r *http.Request) {
	rec := accesslog.Start(h.s.sink, tunnel.ProtoConnect, h.client)
	defer rec.Finish()
	rec.Version, rec.Method, rec.URL = versionH2, r.Method, r.URL.Redacted()
	fail(w, rec, tunnel.Errorf(tunnel.BadRequest, "extended CONNECT for %q is not served", clip(r.Header.Get(":protocol"))))
}
