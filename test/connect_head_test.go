package test

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestConnectHeadErrors: ferry reads a connection's first CONNECT head
// itself (issue 9), so a malformed or oversized one is answered by ferry,
// with a Proxy-Status and an access event, where net/http's own 400 and
// 431 carry neither (TestHTTPErrors).
func TestConnectHeadErrors(t *testing.T) {
	f := startFerry(t, minimalConfig+`
[limits]
max_header_bytes = 1024
`)
	tests := []struct {
		name, head string
		status     int
		reason     string
	}{
		{"bad header name", "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\nBad Name: x\r\n\r\n", 400, "is not a token"},
		{"absolute-form target", "CONNECT https://example.org:443/ HTTP/1.1\r\nHost: example.org:443\r\n\r\n", 400, "want host:port"},
		{"no HTTP version", "CONNECT example.org:443\r\n\r\n", 400, "malformed request line"},
		{"oversized head", "CONNECT example.org:443 HTTP/1.1\r\nX-Big: " + strings.Repeat("a", 4096) + "\r\n\r\n", 431, "larger than 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, f.Addr)
			if _, err := io.WriteString(c, tt.head); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodConnect})
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.reason) {
				t.Errorf("got %d %q, want %d with %q", resp.StatusCode, body, tt.status, tt.reason)
			}
			ps := resp.Header.Get("Proxy-Status")
			if !strings.HasPrefix(ps, "ferry; error=http_request_error;") || !strings.Contains(ps, `details="`) {
				t.Errorf("Proxy-Status %q, want http_request_error with details", ps)
			}
			if !resp.Close {
				t.Error("want Connection: close")
			}
			client := c.LocalAddr().String()
			ev := f.WaitEvent("access", func(e Event) bool { return e.Str("client") == client })
			if ev.Str("proto") != "connect" || ev.Int("status") != int64(tt.status) ||
				ev.Str("proxy_status") != "http_request_error" || ev.Str("err") == "" {
				t.Errorf("access event %v", ev)
			}
		})
	}
}

// TestConnectHTTP10: an HTTP/1.0 CONNECT (curl --proxy1.0) opens a tunnel.
func TestConnectHTTP10(t *testing.T) {
	f := startFerry(t, minimalConfig)
	origin := echoOrigin(t)
	c := dial(t, f.Addr)
	io.WriteString(c, "CONNECT "+origin+" HTTP/1.0\r\n\r\nping")
	code, head, err := readHead(c)
	if err != nil || code != http.StatusOK {
		t.Fatalf("CONNECT: %d %q %v", code, head, err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo %q, %v", got, err)
	}
}
