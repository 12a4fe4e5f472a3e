package test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// headOrigin answers every request 200 "ok" and sends its request line
// and fields, as the origin read them, on heads.
func headOrigin(t *testing.T) (addr string, heads chan *http.Request) {
	heads = make(chan *http.Request, 8)
	addr = tcpOrigin(t, func(c *net.TCPConn) {
		c.SetDeadline(time.Now().Add(eventTimeout))
		br := bufio.NewReader(c)
		for {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, r.Body)
			heads <- r
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	return addr, heads
}

// Plain HTTP over an HTTP/2 parent keeps what ferry does on HTTP/1.1: a
// request with TE: trailers (which ferry names in Connection on HTTP/1.1,
// RFC 9110 §10.1.4, and HTTP/2 has no Connection field for, RFC 9113
// §8.2.2) goes through, and an OPTIONS for a URI with an empty path
// reaches the origin as "*" (RFC 9112 §3.2.4; :path "*", RFC 9113 §8.3.1).
func TestChainHTTP2RequestSemantics(t *testing.T) {
	pki := newChainPKI(t)
	parent := startFerry(t, parentConfig(pki))
	child := startFerry(t, childConfig(httpsUpstream(pki, "parent", parent.AddrOf("tls"), "")+`
[routing]
default = "parent"
`))
	addr, heads := headOrigin(t)
	tests := []struct {
		name, head string
		check      func(r *http.Request) string
	}{
		{"te trailers", "GET http://" + addr + "/te HTTP/1.1\r\nHost: " + addr + "\r\nTE: trailers\r\nConnection: TE\r\n\r\n",
			func(r *http.Request) string {
				if r.Header.Get("Te") != "trailers" {
					return fmt.Sprintf("origin got TE %q, want trailers", r.Header.Get("Te"))
				}
				return ""
			}},
		{"options server-wide", "OPTIONS http://" + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n",
			func(r *http.Request) string {
				if r.RequestURI != "*" {
					return fmt.Sprintf("origin got OPTIONS %q, want *", r.RequestURI)
				}
				return ""
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", child.Addr, eventTimeout)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(eventTimeout))
			io.WriteString(c, tt.head)
			method, _, _ := strings.Cut(tt.head, " ")
			res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("status %d (%s), want the origin's 200", res.StatusCode, res.Header.Get("Proxy-Status"))
			}
			select {
			case r := <-heads:
				if msg := tt.check(r); msg != "" {
					t.Error(msg)
				}
			case <-time.After(eventTimeout):
				t.Fatal("origin got no request")
			}
			parent.WaitEvent("access", func(e Event) bool {
				return e.Str("http_version") == "h2" && e.Str("method") == method && e.Int("status") == 200
			})
		})
	}
}
