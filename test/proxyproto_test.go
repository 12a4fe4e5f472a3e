package test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// Behind a balancer (proxy_protocol_from), the client a PROXY header
// names is the one the ACL's client rules and the access log see (issue
// 18 item 1); a peer not in the list has its header taken for a bad
// request.
func TestProxyProtocolForwardListener(t *testing.T) {
	f := startFerry(t, `
[[listener]]
name = "main"
address = "127.0.0.1:0"
proxy_protocol_from = ["127.0.0.1"]

[[listener]]
name = "direct"
address = "127.0.0.1:0"

[acl]
default = "deny"
[[acl.rule]]
name = "office"
action = "allow"
client = "203.0.113.0/24"
`)
	origin := tcpOrigin(t, func(c *net.TCPConn) { c.Write([]byte("hello")) })
	connect := func(addr, header string) (int, string) {
		c := dial(t, addr)
		fmt.Fprintf(c, "%sCONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", header, origin, origin)
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodConnect})
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		c.Close() // the tunnel's access event is written when it ends
		return resp.StatusCode, c.LocalAddr().String()
	}

	// The balancer's header names a client of the office: allowed, and
	// logged as that client.
	if code, _ := connect(f.Addr, "PROXY TCP4 203.0.113.7 127.0.0.1 40000 8080\r\n"); code != http.StatusOK {
		t.Fatalf("CONNECT for 203.0.113.7 through the balancer: %d, want 200", code)
	}
	f.WaitEvent("access", func(e Event) bool { return e.Str("client") == "203.0.113.7:40000" && e.Int("status") == 200 })

	// A client outside the office, named by the balancer: denied by the
	// client rule, which sees it and not the balancer's loopback.
	if code, _ := connect(f.Addr, "PROXY TCP4 198.51.100.1 127.0.0.1 40001 8080\r\n"); code != http.StatusForbidden {
		t.Fatalf("CONNECT for 198.51.100.1: %d, want 403", code)
	}
	f.WaitEvent("access", func(e Event) bool { return e.Str("client") == "198.51.100.1:40001" && e.Int("status") == 403 })

	// On the listener without proxy_protocol_from a header is not
	// believed: the request is a bad one, logged as the peer.
	code, local := connect(f.AddrOf("direct"), "PROXY TCP4 203.0.113.7 127.0.0.1 40000 8080\r\n")
	if code != http.StatusBadRequest {
		t.Fatalf("a PROXY header on a listener that trusts none: %d, want 400", code)
	}
	ev := f.WaitEvent("access", func(e Event) bool { return e.Str("client") == local })
	if strings.Contains(ev.Str("client"), "203.0.113.7") {
		t.Fatalf("untrusted header believed: %v", ev)
	}
}
