package connect_test

import (
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

// A target with a fragment is refused (400, Proxy-Status): no
// request-target carries one (RFC 9112 §3.2), and escaped to %23 it would
// ask the origin for another resource. The conn goes on.
func TestForwardFragmentRefused(t *testing.T) {
	addr, lines := requestLineOrigin(t)
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "GET http://"+addr+"/a#frag HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	resp, _ := c.response(t, "GET")
	if resp.StatusCode != 400 || !strings.Contains(resp.Header.Get("Proxy-Status"), "error=http_request_error") {
		t.Errorf("answer %d %q, want 400 with Proxy-Status error=http_request_error", resp.StatusCode, resp.Header.Get("Proxy-Status"))
	}
	if rec := w.log.next(t); rec.Status != 400 {
		t.Errorf("access record status %d, want 400", rec.Status)
	}
	c.send(t, "GET http://"+addr+"/next HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	if resp, _ := c.response(t, "GET"); resp.StatusCode != 200 {
		t.Errorf("next request: %d, want 200", resp.StatusCode)
	}
	if got := <-lines; got != "GET /next HTTP/1.1" {
		t.Errorf("origin got %q, want only the next request", got)
	}
}

// On HTTP/2 the :path goes to the origin as it came, and one that could
// not be sent on as it came (a fragment, a space, which HPACK carries but
// a request line cannot) is refused with 400, never escaped into another
// target.
func TestH2ForwardPathAsSent(t *testing.T) {
	addr, lines := requestLineOrigin(t)
	w := newH2World(t, options{})
	tests := []struct {
		name, path string
		status     string
		want       string // the origin's request line; "" none
	}{
		{"query", "/q?b=2&a=1;c=3&d=%zz", "200", "GET /q?b=2&a=1;c=3&d=%zz HTTP/1.1"},
		{"delimiters", "/a|b{c}\"d", "200", "GET /a|b{c}\"d HTTP/1.1"},
		{"fragment", "/a#frag", "400", ""},
		{"space", "/a b", "400", ""},
		{"tab", "/a\tb", "reset", ""}, // x/net resets the stream itself
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := w.rawH2(t)
			h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndStream: true, EndHeaders: true,
				BlockFragment: block(":method", "GET", ":scheme", "http", ":authority", addr, ":path", tt.path)})
			got := "none"
			switch f := h.until(t, func(f http2.Frame) bool {
				_, head := f.(*http2.MetaHeadersFrame)
				_, rst := f.(*http2.RSTStreamFrame)
				return head || rst || isGoAway(f)
			}).(type) {
			case *http2.MetaHeadersFrame:
				got = f.PseudoValue("status")
			case *http2.RSTStreamFrame:
				got = "reset"
			}
			if got != tt.status {
				t.Fatalf("answer %s, want %s", got, tt.status)
			}
			if tt.want == "" {
				return
			}
			if got := <-lines; got != tt.want {
				t.Errorf("origin got %q, want %q", got, tt.want)
			}
		})
	}
	select {
	case got := <-lines:
		t.Errorf("origin got %q from a refused request", got)
	default:
	}
}
