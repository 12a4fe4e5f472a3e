package connect

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/ferry-proxy/ferry/tunnel"
	"golang.org/x/net/http/httpguts"
)

// The fast path (fast.go) peeks the first request head of every
// connection. A CONNECT it serves itself; any other head it checks here
// before net/http gets the connection, because net/http refuses a head it
// cannot serve with a bare "400 Bad Request" (or 431, 501, 505): no
// Proxy-Status, no reason, no access event. checkHead refuses what
// net/http's server would (its readRequest), so a head that passes goes
// to net/http untouched and is served as before. Only the first request
// of a connection is checked: later ones on a keep-alive connection are
// read by net/http alone and still get its bare answers.

// checkHead checks a complete request head that is not a CONNECT. It
// returns the method, when the request line has one, for the access
// event, and the error that refuses the head, nil when it is good.
func checkHead(head []byte) (method string, err error) {
	_, hdr, version := rawHead(head)
	method = firstToken(head)
	br := headReaders.Get().(*bufio.Reader)
	br.Reset(bytes.NewReader(head))
	r, err := http.ReadRequest(br)
	br.Reset(nil)
	headReaders.Put(br)
	if err != nil {
		if badCoding(hdr, version) {
			// Not echoed: the value is the client's (as net/http).
			return method, tunnel.Errorf(tunnel.BadCoding, "unsupported transfer coding: only chunked is (RFC 9112 §6.1)")
		}
		return method, tunnel.Errorf(tunnel.BadRequest, "malformed request head: %v", err)
	}
	if r.ProtoMajor != 1 && !(r.ProtoMajor == 2 && r.ProtoMinor == 0 && r.Method == "PRI" && r.RequestURI == "*") {
		return method, tunnel.Errorf(tunnel.BadVersion, "unsupported protocol version %q: want HTTP/1.x", r.Proto)
	}
	// The checks net/http's server adds to the parser's (RFC 9112 §3.2:
	// an HTTP/1.1 request has exactly one Host; RFC 9110 §5.1, §5.5).
	hosts := hdr["Host"]
	switch {
	case r.ProtoAtLeast(1, 1) && len(hosts) == 0 && r.Method != "PRI":
		return method, tunnel.Errorf(tunnel.BadRequest, "missing Host header (RFC 9112 §3.2)")
	case len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]):
		return method, tunnel.Errorf(tunnel.BadRequest, "malformed Host header %q", hosts[0])
	}
	for k, vv := range hdr {
		if !httpguts.ValidHeaderFieldName(k) {
			return method, tunnel.Errorf(tunnel.BadRequest, "bad header name %q", k)
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return method, tunnel.Errorf(tunnel.BadRequest, "bad value in header %s", k)
			}
		}
	}
	return method, nil
}

// firstToken is the method of the request line that b starts with, or ""
// when it does not start with a token and a space.
func firstToken(b []byte) string {
	i := bytes.IndexByte(b, ' ')
	if i < 0 || i > 32 || !isToken(string(b[:i])) {
		return ""
	}
	return string(b[:i])
}

// rawHead splits head into its request line, its fields as sent (Host
// included, which http.ReadRequest drops) and the HTTP version of the
// request line ("" when it has none). hdr is nil when the fields do not
// parse; http.ReadRequest then says why.
func rawHead(head []byte) (line string, hdr textproto.MIMEHeader, version string) {
	br := headReaders.Get().(*bufio.Reader)
	br.Reset(bytes.NewReader(head))
	defer func() { br.Reset(nil); headReaders.Put(br) }()
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return "", nil, ""
	}
	if i := strings.LastIndexByte(line, ' '); i >= 0 {
		version = line[i+1:]
	}
	hdr, err = tp.ReadMIMEHeader()
	if err != nil {
		hdr = nil
	}
	return line, hdr, version
}

// badCoding reports a Transfer-Encoding net/http refuses: on HTTP/1.1 and
// later anything but one field saying chunked (on HTTP/1.0 it is ignored).
func badCoding(hdr textproto.MIMEHeader, version string) bool {
	te, ok := hdr["Transfer-Encoding"]
	if !ok {
		return false
	}
	major, minor, ok := http.ParseHTTPVersion(version)
	if !ok || major < 1 || major == 1 && minor == 0 {
		return false
	}
	return len(te) != 1 || !strings.EqualFold(te[0], "chunked")
}
