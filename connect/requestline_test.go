package connect_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/connect"
)

// A request line is judged as soon as it ends, first request of a
// connection or a later one: a line without a version (HTTP/0.9) or with
// one other than HTTP/1.x is never followed by fields, and its client
// waits for an answer, so it gets 400 or 505 at once (the handshake
// timeout here is an hour). A request line longer than max_header_bytes
// gets 414 (RFC 9112 §3), not the 431 of long fields.
func TestRequestLineJudgedAlone(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {})
	w := newWorld(t, options{cfg: connect.Config{
		HandshakeTimeout: time.Hour,
		Limits:           connect.Limits{MaxHeaderBytes: 1024},
	}})
	tests := []struct {
		name, line string
		status     int
	}{
		{"GET without a version (HTTP 0.9)", "GET " + o.URL + "/\r\n", http.StatusBadRequest},
		{"GET without a version, bare LF", "GET " + o.URL + "/\n", http.StatusBadRequest},
		{"CONNECT without a version", "CONNECT " + o.host + "\r\n", http.StatusBadRequest},
		{"version HTTP 2.0", "GET " + o.URL + "/ HTTP/2.0\r\n", http.StatusHTTPVersionNotSupported},
		{"malformed version", "GET " + o.URL + "/ HTTP/1.1.1\r\n", http.StatusBadRequest},
		{"request line over max_header_bytes", "GET " + o.URL + "/" + strings.Repeat("a", 2048) + " HTTP/1.1\r\n", http.StatusRequestURITooLong},
	}
	for _, tt := range tests {
		for _, later := range []bool{false, true} {
			name := tt.name + ", first request"
			if later {
				name = tt.name + ", after a keep-alive request"
			}
			t.Run(name, func(t *testing.T) {
				c := w.raw(t)
				if later {
					c.send(t, "GET "+o.URL+"/ HTTP/1.1\r\nHost: "+o.host+"\r\n\r\n")
					if resp, _ := c.response(t, "GET"); resp.StatusCode != 200 {
						t.Fatalf("first request: %d", resp.StatusCode)
					}
					w.log.next(t)
				}
				c.send(t, tt.line)
				resp, body := c.response(t, "GET")
				if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Proxy-Status"), "ferry; error=http_request_error") {
					t.Fatalf("got %d %q, Proxy-Status %q; want %d", resp.StatusCode, body, resp.Header.Get("Proxy-Status"), tt.status)
				}
				if r := w.log.next(t); r.Status != tt.status || r.ProxyStatus != "http_request_error" {
					t.Errorf("access record status %d proxy_status %q", r.Status, r.ProxyStatus)
				}
			})
		}
	}
}
