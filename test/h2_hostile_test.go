package test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

// Hostile HTTP/2 input against the real binary, frames written by hand
// over TLS (issue 21: "Hostile input"): what a client must not send is
// answered with the error RFC 9113 names for it, on the stream when the
// stream alone is wrong, on the connection (GOAWAY) when the connection
// is, and ferry serves the next connection. The floods and the bounds on
// ferry's memory and goroutines under them are in h2_flood_test.go.

// h2HostileConfig is a ferry with a TLS listener (h2 by ALPN), the admin
// listener, and extra (limits, say).
func h2HostileConfig(pki *chainPKI, extra string) string {
	return fmt.Sprintf(`
[[listener]]
name = "tls"
address = "127.0.0.1:0"
tls = { cert = %q, key = %q }

[admin]
address = "127.0.0.1:0"

[acl]
default = "allow"
%s`, pki.Path("remote.pem"), pki.Path("remote.key"), extra)
}

// Malformed requests (RFC 9113 §8.1.1, §8.2, §8.3, §8.5) and frames that
// break the protocol's rules (§5.1.1, §6.9, §4.2) each get the answer the
// RFC asks for; none brings ferry down.
func TestH2MalformedRequestsE2E(t *testing.T) {
	pki := newChainPKI(t)
	f := startFerry(t, h2HostileConfig(pki, "[limits]\nidle_timeout = \"2s\"\n[http2]\nstream_window = 65535\n"))
	addr := f.AddrOf("tls")
	echo := echoOrigin(t)
	hosts := make(chan string, 16)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case hosts <- r.Host:
		default:
		}
		n, err := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "host %s body %d %v", r.Host, n, err)
	}))
	t.Cleanup(web.Close)
	origin := web.Listener.Addr().String()
	// A WebSocket origin that never answers the handshake: ferry does not
	// read the stream's DATA before it does, so the client's window is
	// all it may send.
	silent := tcpOrigin(t, func(c *net.TCPConn) { io.Copy(io.Discard, c) })

	get := func(extra ...string) []byte {
		return h2Block(append([]string{":method", "GET", ":scheme", "http", ":authority", origin, ":path", "/"}, extra...)...)
	}
	post := func(extra ...string) []byte {
		return h2Block(append([]string{":method", "POST", ":scheme", "http", ":authority", origin, ":path", "/"}, extra...)...)
	}
	connect := func(fields ...string) []byte { return h2Block(append([]string{":method", "CONNECT"}, fields...)...) }
	stream := func(p http2.ErrCode) h2Answer { return h2Answer{kind: "rst", rst: p} }
	conn := func(p http2.ErrCode) h2Answer { return h2Answer{kind: "goaway", goaway: p} }
	status := func(s string) h2Answer { return h2Answer{kind: "status", status: s} }
	// ferry's own answer, with its Proxy-Status.
	refused := func(s, perr string) h2Answer { return h2Answer{kind: "status", status: s, perr: perr} }
	data16k := bytes.Repeat([]byte{'d'}, 16<<10)

	tests := []struct {
		name string
		send func(h *h2Raw) // writes the attack; the answer awaited is stream 1's
		want h2Answer
	}{
		// §5.1.1: client streams are odd, and each new one higher.
		{"even stream id", func(h *h2Raw) { h.headers(2, true, get()) }, conn(http2.ErrCodeProtocol)},
		{"decreasing stream id", func(h *h2Raw) {
			h.headers(5, false, connect(":authority", echo))
			h.headers(1, true, get())
		}, conn(http2.ErrCodeProtocol)},
		{"HEADERS on stream 0", func(h *h2Raw) { h.fr.WriteRawFrame(http2.FrameHeaders, 0x4|0x1, 0, get()) }, conn(http2.ErrCodeProtocol)},
		{"DATA on an idle stream", func(h *h2Raw) { h.fr.WriteData(1, true, []byte("x")) }, conn(http2.ErrCodeProtocol)},
		// §8.3.1: a request without its pseudo-headers is malformed.
		{"zero-length HEADERS", func(h *h2Raw) { h.headers(1, true, nil) }, stream(http2.ErrCodeProtocol)},
		// §6.9: an increment of 0 is an error of what it was sent on.
		{"WINDOW_UPDATE 0 on the connection", func(h *h2Raw) { h.fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 0, []byte{0, 0, 0, 0}) },
			conn(http2.ErrCodeProtocol)},
		{"WINDOW_UPDATE 0 on a stream", func(h *h2Raw) {
			h.headers(1, false, connect(":authority", echo))
			h.fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 1, []byte{0, 0, 0, 0})
		}, stream(http2.ErrCodeProtocol)},
		// §6.9.1: a window past 2^31-1 is a FLOW_CONTROL_ERROR.
		{"WINDOW_UPDATE overflow on the connection", func(h *h2Raw) {
			h.fr.WriteWindowUpdate(0, 1<<31-1)
			h.fr.WriteWindowUpdate(0, 1<<31-1)
		}, conn(http2.ErrCodeFlowControl)},
		{"WINDOW_UPDATE overflow on a stream", func(h *h2Raw) {
			h.headers(1, false, connect(":authority", echo))
			h.fr.WriteWindowUpdate(1, 1<<31-1)
			h.fr.WriteWindowUpdate(1, 1<<31-1)
		}, stream(http2.ErrCodeFlowControl)},
		// §6.9.1: DATA past the window ferry gave is a FLOW_CONTROL_ERROR.
		{"DATA beyond the stream window", func(h *h2Raw) {
			h.headers(1, false, connect(":protocol", "websocket", ":scheme", "http", ":authority", silent, ":path", "/ws"))
			for range 5 { // 80 KiB, the window is 64 KiB - 1
				h.fr.WriteData(1, false, data16k)
			}
		}, stream(http2.ErrCodeFlowControl)},
		// §4.2: a frame over SETTINGS_MAX_FRAME_SIZE (16 KiB).
		{"DATA frame over the max frame size", func(h *h2Raw) {
			h.headers(1, false, connect(":authority", echo))
			h.fr.WriteRawFrame(http2.FrameData, 0, 1, append(data16k, 'x'))
		}, conn(http2.ErrCodeFrameSize)},
		{"HEADERS frame over the max frame size", func(h *h2Raw) {
			h.fr.WriteRawFrame(http2.FrameHeaders, 0x4, 1, append(get(), h2Block("x-big", strings.Repeat("b", 24<<10))...))
		}, conn(http2.ErrCodeFrameSize)},
		// §8.5: CONNECT has :authority and neither :scheme nor :path.
		{"CONNECT with :scheme", func(h *h2Raw) { h.headers(1, false, connect(":scheme", "https", ":authority", echo)) },
			stream(http2.ErrCodeProtocol)},
		{"CONNECT with :path", func(h *h2Raw) { h.headers(1, false, connect(":authority", echo, ":path", "/")) },
			stream(http2.ErrCodeProtocol)},
		{"CONNECT without :authority", func(h *h2Raw) { h.headers(1, false, connect()) }, stream(http2.ErrCodeProtocol)},
		// RFC 8441 §4: an extended CONNECT has :scheme and :path too, and
		// :protocol belongs to CONNECT only.
		{"extended CONNECT without :path", func(h *h2Raw) {
			h.headers(1, false, connect(":protocol", "websocket", ":scheme", "http", ":authority", origin))
		}, stream(http2.ErrCodeProtocol)},
		{":protocol on a GET", func(h *h2Raw) { h.headers(1, true, get(":protocol", "websocket")) }, refused("400", "http_request_error")},
		{"extended CONNECT for an unknown protocol", func(h *h2Raw) {
			h.headers(1, false, connect(":protocol", "smtp", ":scheme", "http", ":authority", origin, ":path", "/"))
		}, refused("400", "http_request_error")},
		// §8.3: pseudo-header fields come first, once each, only the
		// defined ones, never a response's.
		{"pseudo-header after a regular one", func(h *h2Raw) {
			h.headers(1, true, h2Block(":method", "GET", ":scheme", "http", "x-a", "b", ":authority", origin, ":path", "/"))
		}, stream(http2.ErrCodeProtocol)},
		{"duplicate :method", func(h *h2Raw) { h.headers(1, true, get(":method", "GET")) }, stream(http2.ErrCodeProtocol)},
		{"unknown pseudo-header", func(h *h2Raw) {
			h.headers(1, true, h2Block(":method", "GET", ":scheme", "http", ":authority", origin, ":path", "/", ":foo", "x"))
		}, stream(http2.ErrCodeProtocol)},
		{":status in a request", func(h *h2Raw) {
			h.headers(1, true, h2Block(":method", "GET", ":scheme", "http", ":authority", origin, ":path", "/", ":status", "200"))
		}, stream(http2.ErrCodeProtocol)},
		// §8.2.1: field names are lowercase; values hold no CR, LF or NUL.
		{"uppercase field name", func(h *h2Raw) { h.headers(1, true, get("X-Upper", "a")) }, stream(http2.ErrCodeProtocol)},
		{"CR LF in a field value", func(h *h2Raw) { h.headers(1, true, get("x-a", "b\r\nx-injected: 1")) }, stream(http2.ErrCodeProtocol)},
		{"NUL in a field value", func(h *h2Raw) { h.headers(1, true, get("x-a", "b\x00c")) }, stream(http2.ErrCodeProtocol)},
		// §8.2.2: connection-specific fields make a request malformed;
		// TE may say trailers and nothing else. x/net answers these 400
		// itself (§8.1.1 allows a response before the reset).
		{"connection", func(h *h2Raw) { h.headers(1, true, get("connection", "keep-alive")) }, status("400")},
		{"transfer-encoding", func(h *h2Raw) { h.headers(1, true, get("transfer-encoding", "chunked")) }, status("400")},
		{"keep-alive", func(h *h2Raw) { h.headers(1, true, get("keep-alive", "timeout=5")) }, status("400")},
		{"proxy-connection", func(h *h2Raw) { h.headers(1, true, get("proxy-connection", "close")) }, status("400")},
		{"upgrade", func(h *h2Raw) { h.headers(1, true, get("upgrade", "websocket")) }, status("400")},
		{"te gzip", func(h *h2Raw) { h.headers(1, true, get("te", "gzip")) }, status("400")},
		{"te trailers", func(h *h2Raw) { h.headers(1, true, get("te", "trailers")) }, status("200")},
		// §8.1.1: DATA that does not add up to content-length.
		{"DATA over content-length", func(h *h2Raw) {
			h.headers(1, false, post("content-length", "5"))
			h.fr.WriteData(1, true, []byte("0123456789"))
		}, stream(http2.ErrCodeProtocol)},
		{"DATA under content-length", func(h *h2Raw) {
			h.headers(1, false, post("content-length", "10"))
			h.fr.WriteData(1, true, []byte("01234"))
		}, refused("400", "http_request_error")},
		{"content-length on a request with END_STREAM and no DATA", func(h *h2Raw) {
			h.headers(1, true, post("content-length", "10"))
		}, refused("400", "http_request_error")},
		{"content-length not a number", func(h *h2Raw) {
			h.headers(1, true, post("content-length", "ten"))
		}, refused("400", "http_request_error")},
		{"two content-lengths", func(h *h2Raw) {
			h.headers(1, false, post("content-length", "1", "content-length", "2"))
			h.fr.WriteData(1, true, []byte("x"))
		}, refused("400", "http_request_error")},
		{"body stalled short of content-length", func(h *h2Raw) {
			h.headers(1, false, post("content-length", "10"))
			h.fr.WriteData(1, false, []byte("01234"))
		}, refused("408", "http_request_error")},
		// §8.3.1: Host, when sent, names what :authority does.
		{"host contradicting :authority", func(h *h2Raw) { h.headers(1, true, get("host", "elsewhere.example")) },
			stream(http2.ErrCodeProtocol)},
		// §8.1: trailers carry no pseudo-header.
		{"pseudo-header in trailers", func(h *h2Raw) {
			h.headers(1, false, post())
			h.fr.WriteData(1, false, []byte("x"))
			h.headers(1, true, h2Block(":path", "/x"))
		}, stream(http2.ErrCodeProtocol)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := h2Dial(t, addr)
			tt.send(h)
			id := uint32(1)
			if tt.want.kind == "goaway" {
				id = 0
			}
			got := h.answer(id)
			for got.kind == "status" && tt.want.kind == "rst" {
				got = h.answer(id) // a CONNECT's 200 may come before the reset
			}
			if got != tt.want {
				t.Errorf("answered %v, want %v", got, tt.want)
			}
		})
	}
	// ferry stayed up and serves the next client.
	h := h2Dial(t, addr)
	h.headers(1, true, get())
	if got := h.answer(1); got != status("200") {
		t.Fatalf("a well-formed GET after them: %v", got)
	}
}
