package connect

import (
	"fmt"
	"net/http"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
)

// serveSelf answers origin-form and asterisk-form requests, which are
// addressed to ferry itself and are never forwarded: a small status page
// at /, ferry's pages, 200 to OPTIONS *, 400 elsewhere.
func (s *Server) serveSelf(w http.ResponseWriter, r *http.Request) {
	rec := accesslog.Start(s.sink, tunnel.ProtoHTTP, clientAddr(r))
	defer rec.Finish()
	rec.Method, rec.URL = r.Method, r.URL.Redacted()
	if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		rec.Status = http.StatusOK
		fmt.Fprint(w, "ferry: a forward proxy for HTTP CONNECT, plain HTTP and SOCKS.\n"+
			"Set it as your proxy; requests sent to it directly are not forwarded.\n")
		return
	}
	if r.Method == http.MethodOptions && r.URL.Path == "*" && r.URL.Host == "" {
		// OPTIONS * asks about ferry itself, not a resource (RFC 9110
		// §9.3.7): a ping, answered 200 whatever its Max-Forwards, since
		// ferry is its final recipient either way (as net/http's server
		// answers it). OPTIONS http://host goes on as OPTIONS * instead.
		w.Header().Set("Content-Length", "0")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		rec.Status = http.StatusOK
		return
	}
	if s.servePage(w, r, rec) {
		return
	}
	fail(w, rec, tunnel.Errorf(tunnel.BadRequest,
		"this is a proxy: send absolute-form requests (GET http://host/path) or CONNECT host:port"))
}
