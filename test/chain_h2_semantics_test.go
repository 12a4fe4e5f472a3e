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
	child := childOf(t, pki, parent, "", "")
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

// A request that fails on its own stream, the parent's connection still
// working, does not count against the parent: one client's request whose
// many small fields make a header list over the parent's advertised limit
// (x/net refuses it before sending) gets its answer, and the next
// client's request goes through the parent as before. Counted against
// it, any client could keep the parent marked down for everyone.
func TestChainHTTP2RequestFailureNotUpstreamFault(t *testing.T) {
	pki := newChainPKI(t)
	parent := startFerry(t, parentConfig(pki))
	child := childOf(t, pki, parent, "", "")
	addr, heads := headOrigin(t)
	get := func(extra string) *http.Response { return getVia(t, child.Addr, addr, "/", extra) }
	if res := get(""); res.StatusCode != 200 {
		t.Fatalf("first request: %d, want 200", res.StatusCode)
	}
	<-heads
	// 60 KiB of head (under max_header_bytes) in 7,000 fields: about
	// 290 KB of HTTP/2 header list (32 bytes of overhead each, RFC 9113
	// §6.5.2), over the parent's 64 KiB.
	big := strings.Repeat("X-A: b\r\n", 7000)
	if res := get(big); res.StatusCode != http.StatusRequestHeaderFieldsTooLarge || res.Header.Get("Proxy-Status") == "" {
		t.Fatalf("the oversized request: %d (%q), want 431 with Proxy-Status", res.StatusCode, res.Header.Get("Proxy-Status"))
	}
	for i := range 3 {
		if res := get(""); res.StatusCode != 200 {
			t.Fatalf("request %d after one client's oversized one: %d (%s), want 200: the parent was marked down for it",
				i, res.StatusCode, res.Header.Get("Proxy-Status"))
		}
		<-heads
	}
}

// An origin that does not answer within the child's response_timeout,
// behind a parent that works (HTTP/2: its connection; HTTP/1.1: a request
// through it just succeeded), gets that request a 504; the parent is not
// marked down for it (a client asking for a slow URL would otherwise take
// the parent out of service for everyone).
func TestChainResponseTimeoutNotUpstreamFault(t *testing.T) {
	for _, way := range []string{"http2 = true", "http2 = false"} {
		t.Run(way, func(t *testing.T) {
			pki := newChainPKI(t)
			parent := startFerry(t, parentConfig(pki))
			child := childOf(t, pki, parent, way, "[limits]\nresponse_timeout = \"300ms\"\n")
			addr := tcpOrigin(t, func(c *net.TCPConn) {
				c.SetDeadline(time.Now().Add(eventTimeout))
				br := bufio.NewReader(c)
				for {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					if r.URL.Path == "/slow" {
						br.ReadByte() // never answers: waits for the parent to give up (or the deadline)
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			})
			get := func(path string) *http.Response { return getVia(t, child.Addr, addr, path, "") }
			if res := get("/fast"); res.StatusCode != 200 {
				t.Fatalf("the first request: %d (%s), want 200", res.StatusCode, res.Header.Get("Proxy-Status"))
			}
			if res := get("/slow"); res.StatusCode != http.StatusGatewayTimeout ||
				!strings.Contains(res.Header.Get("Proxy-Status"), "error=http_response_timeout") {
				t.Fatalf("the stalled request: %d (%q), want 504 and http_response_timeout", res.StatusCode, res.Header.Get("Proxy-Status"))
			}
			if res := get("/fast"); res.StatusCode != 200 {
				t.Fatalf("the next request: %d (%s), want 200: the parent was marked down for a slow origin", res.StatusCode, res.Header.Get("Proxy-Status"))
			}
		})
	}
}

// A CONNECT to a target that does not answer (a full listen backlog: the
// parent's dial hangs) runs into the child's dial_timeout: that tunnel
// gets its 504, and the parent, known to work (a tunnel through it just
// opened) and silent only because its own dial to the target is still
// under way, is not marked down: the next tunnel through it opens.
// Counted against the parent, a client naming any silent address would
// take it out of service for everyone. (A parent silent with no success
// behind it is still taken out: TestUpstreamHTTPSilentTimesOut.)
func TestChainSlowTargetNotUpstreamFault(t *testing.T) {
	for _, way := range []string{"http2 = true", "http2 = false", "socks5"} {
		t.Run(way, func(t *testing.T) {
			pki := newChainPKI(t)
			parent := startFerry(t, parentConfig(pki))
			upstream := httpsUpstream(pki, "parent", parent.AddrOf("tls"), way)
			if way == "socks5" {
				upstream = fmt.Sprintf("[[upstream]]\nname = \"parent\"\nurl = \"socks5h://laptop:change-me@%s\"\n", parent.AddrOf("plain"))
			}
			child := startFerry(t, childConfig(upstream+`
[routing]
default = "parent"

[limits]
dial_timeout = "300ms"
`))
			echo := echoOrigin(t)
			echoThrough(t, child.Addr, echo, "before")
			code, head, c := rawConnect(t, child.Addr, blackhole(t))
			c.Close()
			if code != http.StatusGatewayTimeout {
				t.Fatalf("CONNECT to a silent target: %q, want 504", head)
			}
			echoThrough(t, child.Addr, echo, "after")
		})
	}
}

// getVia sends proxy a GET for http://addr+path, with the fields in extra
// (each ending in CRLF), and returns the answer, its body read.
func getVia(t *testing.T, proxy, addr, path, extra string) *http.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", proxy, eventTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(eventTimeout))
	io.WriteString(c, "GET http://"+addr+path+" HTTP/1.1\r\nHost: "+addr+"\r\n"+extra+"\r\n")
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// A plain-HTTP request through a group whose first parent accepts and
// never answers (and has not worked lately) is answered by the next
// member: no answer in time from a parent with no recent success is its
// fault, and a request without a body goes on.
func TestChainHungParentFailsOver(t *testing.T) {
	hung := tcpOrigin(t, func(c *net.TCPConn) {
		c.SetDeadline(time.Now().Add(eventTimeout))
		io.Copy(io.Discard, c) // reads, never answers
	})
	pki := newChainPKI(t)
	parent := startFerry(t, parentConfig(pki))
	child := startFerry(t, childConfig(fmt.Sprintf(`
[[upstream]]
name = "hung"
url = "http://%s"
`, hung)+httpsUpstream(pki, "parent", parent.AddrOf("tls"), "")+`
[[upstream_group]]
name = "parents"
members = ["hung", "parent"]
policy = "failover"

[routing]
default = "parents"

[limits]
response_timeout = "300ms"
`))
	addr, heads := headOrigin(t)
	if res := getVia(t, child.Addr, addr, "/", ""); res.StatusCode != 200 {
		t.Fatalf("GET through a group whose first parent hangs: %d (%s), want 200 from the next", res.StatusCode, res.Header.Get("Proxy-Status"))
	}
	<-heads
}

// A client whose own request body is malformed (bad chunked syntax),
// through a parent of either kind, gets its 400, and the parent is not
// marked down for it: the next request goes through.
func TestChainClientBodyFailureNotUpstreamFault(t *testing.T) {
	pki := newChainPKI(t)
	parent := startFerry(t, parentConfig(pki))
	for _, way := range []string{"http2 = false", "http2 = true"} {
		t.Run(way, func(t *testing.T) {
			child := childOf(t, pki, parent, way, "")
			addr, heads := headOrigin(t)
			if res := getVia(t, child.Addr, addr, "/", ""); res.StatusCode != 200 {
				t.Fatalf("first request: %d, want 200", res.StatusCode)
			}
			<-heads
			c, err := net.DialTimeout("tcp", child.Addr, eventTimeout)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(eventTimeout))
			io.WriteString(c, "POST http://"+addr+"/ HTTP/1.1\r\nHost: "+addr+"\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZZ\r\n")
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			c.Close()
			if err != nil || res.StatusCode != http.StatusBadRequest {
				t.Fatalf("a malformed chunked body: %v %v, want 400", res, err)
			}
			if res := getVia(t, child.Addr, addr, "/", ""); res.StatusCode != 200 {
				t.Fatalf("the next request: %d (%s), want 200: the parent was marked down for a client's bad body", res.StatusCode, res.Header.Get("Proxy-Status"))
			}
			<-heads
		})
	}
}

// childOf starts a ferry whose default route is parent's TLS listener
// (an https upstream with way, e.g. "http2 = false", as one of its keys),
// and extra config after it.
func childOf(t *testing.T, pki *chainPKI, parent *Ferry, way, extra string) *Ferry {
	t.Helper()
	return startFerry(t, childConfig(httpsUpstream(pki, "parent", parent.AddrOf("tls"), way)+"\n[routing]\ndefault = \"parent\"\n\n"+extra))
}
