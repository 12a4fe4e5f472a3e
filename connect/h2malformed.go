package connect

import (
	"net/http"
	"strconv"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
)

// h2Malformed says what makes a request on a stream malformed that
// x/net's server lets through to the handler, or "" when nothing does.
// x/net itself resets a stream for bad pseudo-header fields, field names
// and values, an :authority that Host contradicts, and DATA past a
// content-length; it answers connection-specific fields with its own 400.
// What it passes on:
//   - :protocol on a request that is not a CONNECT (RFC 8441 §4): x/net
//     leaves it in the header map, and forwarded it would be a field
//     named ":protocol" in the origin's HTTP/1.1 head.
//   - a content-length that the DATA cannot match (RFC 9113 §8.1.1):
//     not a number, two that differ (RFC 9110 §8.6), or one over 0 on a
//     request whose HEADERS ended the stream. Forwarded, the request would
//     go with the length of what came instead.
//
// A body that ends short of its content-length fails as it is read
// (h2Body).
func h2Malformed(r *http.Request) string {
	if _, ok := r.Header[":protocol"]; ok && r.Method != http.MethodConnect {
		return ":protocol on a " + clip(r.Method) + " request: only an extended CONNECT has it (RFC 8441 §4)"
	}
	cl, ok := r.Header["Content-Length"]
	if !ok {
		return ""
	}
	n, err := strconv.ParseUint(cl[0], 10, 63)
	if err != nil {
		return "content-length " + strconv.Quote(clip(cl[0])) + " is not a length (RFC 9110 §8.6)"
	}
	for _, v := range cl[1:] {
		if v != cl[0] {
			return "two content-lengths that differ (RFC 9110 §8.6)"
		}
	}
	// x/net sets ContentLength from the field when DATA may follow, and
	// leaves it 0 when the HEADERS frame ended the stream.
	if int64(n) != r.ContentLength {
		return "content-length " + cl[0] + " on a request without DATA (RFC 9113 §8.1.1)"
	}
	return ""
}

// refuseMalformed answers a malformed request 400 on its stream, with the
// reason in Proxy-Status and the access line (RFC 9113 §8.1.1 lets a
// server answer before it resets the stream).
func (h *h2Conn) refuseMalformed(w http.ResponseWriter, r *http.Request, why string) {
	proto := tunnel.ProtoHTTP
	if r.Method == http.MethodConnect {
		proto = tunnel.ProtoConnect
	}
	rec := accesslog.Start(h.s.sink, proto, h.client)
	defer rec.Finish()
	rec.Version, rec.Method, rec.Target = versionH2, r.Method, r.Host
	fail(w, rec, tunnel.Errorf(tunnel.BadRequest, "%s", why))
}
