package test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestHTTPErrors checks each error answer of the HTTP front end on a raw
// socket, as the first request of a connection: the status, a text body
// that says why, the Proxy-Status error type (RFC 9209) and an access
// event. (Later requests on a keep-alive connection are read by net/http,
// whose own 400/431 for an unparsable head carry neither; README.)
func TestHTTPErrors(t *testing.T) {
	f := startFerry(t, minimalConfig+`
[limits]
dial_timeout = "500ms"
max_header_bytes = 1024
shutdown_grace = "2s"
`)
	refused := closedPort(t)
	silent := blackhole(t)
	huge := "GET http://" + refused + "/ HTTP/1.1\r\nHost: " + refused + "\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n"
	tests := []struct {
		name        string
		request     string
		status      int
		body        string // the reason, in the text body
		proxyStatus string
		target      string // the access event's target, when one is written
	}{
		{"malformed request line", "GARBAGE\r\n\r\n", 400, "malformed", "http_request_error", ""},
		{"bad header line", "GET http://example.org/ HTTP/1.1\r\nHost: example.org\r\nno colon here\r\n\r\n", 400, "malformed", "http_request_error", ""},
		{"bad Content-Length", "POST http://example.org/ HTTP/1.1\r\nHost: example.org\r\nContent-Length: 12x\r\n\r\n", 400, "Content-Length", "http_request_error", ""},
		{"unknown transfer coding", "POST http://example.org/ HTTP/1.1\r\nHost: example.org\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "only chunked", "http_request_error", ""},
		{"missing Host", "GET http://example.org/ HTTP/1.1\r\n\r\n", 400, "missing Host", "http_request_error", ""},
		{"HTTP/9.9", "GET http://example.org/ HTTP/9.9\r\nHost: example.org\r\n\r\n", 505, "unsupported protocol version", "http_request_error", ""},
		{"CONNECT without a port", "CONNECT example.org HTTP/1.1\r\nHost: example.org\r\n\r\n", 400, "bad target", "http_request_error", "example.org"},
		{"unsupported scheme", "GET ftp://example.org/ HTTP/1.1\r\nHost: example.org\r\n\r\n", 400, "unsupported scheme", "http_request_error", ""},
		{"oversized head", huge, 431, "Request Header Fields Too Large", "http_request_error", ""},
		{"CONNECT refused", connectReq(refused), 502, "refused", "connection_refused", refused},
		{"GET refused", getReq(refused), 502, "refused", "connection_refused", refused},
		{"CONNECT DNS failure", connectReq("nonexistent.invalid:443"), 502, "no such host", "dns_error", "nonexistent.invalid:443"},
		{"GET DNS failure", getReq("nonexistent.invalid"), 502, "no such host", "dns_error", "nonexistent.invalid:80"},
		{"CONNECT dial timeout", connectReq(silent), 504, "no answer within 500ms", "connection_timeout", silent},
		{"GET dial timeout", getReq(silent), 504, "no answer within 500ms", "connection_timeout", silent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, f.Addr)
			if _, err := io.WriteString(c, tt.request); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.body) {
				t.Errorf("got %d %q, want %d with %q", resp.StatusCode, body, tt.status, tt.body)
			}
			ps := resp.Header.Get("Proxy-Status")
			if want := "ferry; error=" + tt.proxyStatus + ";"; !strings.HasPrefix(ps, want) || !strings.Contains(ps, `details="`) {
				t.Errorf("Proxy-Status %q, want %q... with details", ps, want)
			}
			client := c.LocalAddr().String()
			ev := f.WaitEvent("access", func(e Event) bool { return e.Str("client") == client })
			if ev.Int("status") != int64(tt.status) || ev.Str("proxy_status") != tt.proxyStatus || ev.Str("err") == "" {
				t.Errorf("access event %v, want status %d proxy_status %s and err", ev, tt.status, tt.proxyStatus)
			}
			if tt.target != "" && ev.Str("target") != tt.target {
				t.Errorf("access target %q, want %q", ev.Str("target"), tt.target)
			}
		})
	}
}

func connectReq(target string) string {
	return fmt.Sprintf("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
}

func getReq(host string) string {
	return fmt.Sprintf("GET http://%s/ HTTP/1.1\r\nHost: %s\r\n\r\n", host, host)
}
