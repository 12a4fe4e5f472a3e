package test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// h2Client opens an HTTP/2 connection to ferry's TLS listener at addr,
// sending header (a PROXY header, or nothing) before the TLS handshake.
func h2Client(t *testing.T, addr, header string) *http2.ClientConn {
	t.Helper()
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(c, header); err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN chose %q, want h2", p)
	}
	cc, err := (&http2.Transport{}).NewClientConn(tc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// h2Get sends a GET for u on cc and returns its status, head and how many
// body bytes arrived before the body ended (or the stream was reset).
func h2Get(t *testing.T, cc *http2.ClientConn, u string) (int, http.Header, int64) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %s over h2: %v", u, err)
	}
	defer res.Body.Close()
	n, _ := io.Copy(io.Discard, res.Body)
	return res.StatusCode, res.Header, n
}

// Behind a balancer, an HTTP/2 connection's streams are the client's the
// PROXY header named, not the balancer's: client rules, limits and the
// access log see it, as on HTTP/1.1 (issue 18 item 1 with issue 21).
func TestH2BehindProxyProtocol(t *testing.T) {
	pki := newChainPKI(t)
	f := startFerry(t, fmt.Sprintf(`
[[listener]]
name = "tls"
address = "127.0.0.1:0"
proxy_protocol_from = ["127.0.0.1"]
tls = { cert = %q, key = %q }

[acl]
default = "deny"
[[acl.rule]]
name = "office"
action = "allow"
client = "203.0.113.0/24"
`, pki.Path("remote.pem"), pki.Path("remote.key")))
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	t.Cleanup(web.Close)

	office := h2Client(t, f.Addr, "PROXY TCP4 203.0.113.7 127.0.0.1 40000 8080\r\n")
	if code, _, _ := h2Get(t, office, web.URL+"/office"); code != http.StatusOK {
		t.Fatalf("GET over h2 for 203.0.113.7 through the balancer: %d, want 200", code)
	}
	ev := f.WaitEvent("access", func(e Event) bool { return strings.HasSuffix(e.Str("url"), "/office") })
	if ev.Str("client") != "203.0.113.7:40000" || ev.Str("http_version") != "h2" {
		t.Errorf("access line %v: want client 203.0.113.7:40000 over h2", ev)
	}

	// A CONNECT stream on the same connection is that client's too.
	origin := tcpOrigin(t, func(c *net.TCPConn) { c.Write([]byte("hello")) })
	pr, pw := io.Pipe()
	defer pw.Close()
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Host: origin}, Host: origin, Header: http.Header{}, Body: pr}
	res, err := office.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT over h2 for 203.0.113.7: %d, want 200", res.StatusCode)
	}

	outside := h2Client(t, f.Addr, "PROXY TCP4 198.51.100.1 127.0.0.1 40001 8080\r\n")
	if code, _, _ := h2Get(t, outside, web.URL+"/outside"); code != http.StatusForbidden {
		t.Fatalf("GET over h2 for 198.51.100.1: %d, want 403 (the client rule sees the named client)", code)
	}
	ev = f.WaitEvent("access", func(e Event) bool { return strings.HasSuffix(e.Str("url"), "/outside") })
	if ev.Str("client") != "198.51.100.1:40001" {
		t.Errorf("access line %v: want client 198.51.100.1:40001", ev)
	}
}

// Plain-HTTP requests on HTTP/2 streams are admitted by the [[limit]]
// rules as HTTP/1.1 ones are: over a request rate, 429 with Retry-After
// and a Proxy-Status naming the limit; a byte quota counted as the
// response goes, cutting the stream near it.
func TestH2PlainRequestsLimited(t *testing.T) {
	pki := newChainPKI(t)
	f := startFerry(t, fmt.Sprintf(`
[[listener]]
name = "tls"
address = "127.0.0.1:0"
tls = { cert = %q, key = %q }

[acl]
default = "allow"

[[limit]]
name = "two-a-minute"
per = "client"
requests = 2
window = "1m"
not = { domain = "localhost" }

[[limit]]
name = "h2-bytes"
per = "client"
bytes = "8MiB"
domain = "localhost"
`, pki.Path("remote.pem"), pki.Path("remote.key")))
	const size = 256 << 20
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/big" {
			io.WriteString(w, "small")
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(size))
		buf := bytes.Repeat([]byte{'x'}, 64<<10)
		for n := 0; n < size; n += len(buf) {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	}))
	t.Cleanup(web.Close)
	cc := h2Client(t, f.Addr, "")

	for i := range 2 {
		if code, _, _ := h2Get(t, cc, fmt.Sprintf("%s/%d", web.URL, i)); code != http.StatusOK {
			t.Fatalf("request %d of 2 allowed a minute: %d", i+1, code)
		}
	}
	code, head, _ := h2Get(t, cc, web.URL+"/third")
	if code != http.StatusTooManyRequests || head.Get("Retry-After") == "" ||
		!strings.Contains(head.Get("Proxy-Status"), `limit \"two-a-minute\"`) {
		t.Fatalf("third request in a minute: %d %v, want 429 with Retry-After and a Proxy-Status naming the limit", code, head)
	}
	ev := f.WaitEvent("access", func(e Event) bool { return strings.HasSuffix(e.Str("url"), "/third") })
	if !strings.Contains(ev.Str("err"), `limit "two-a-minute"`) || ev.Str("http_version") != "h2" {
		t.Errorf("access line %v does not name the limit", ev)
	}

	// The byte quota (by name: another rule, another counter).
	big := "http://localhost:" + web.URL[strings.LastIndex(web.URL, ":")+1:] + "/big"
	code, _, got := h2Get(t, cc, big)
	t.Logf("an h2 download with a quota of 8 MiB: %d, moved %.1f MiB", code, float64(got)/(1<<20))
	if code != http.StatusOK || got < 8<<20 || got > 64<<20 {
		t.Errorf("moved %d MiB of %d: want it cut near the 8 MiB quota", got>>20, size>>20)
	}
	ev = f.WaitEvent("access", func(e Event) bool { return strings.HasSuffix(e.Str("url"), "/big") })
	if !strings.Contains(ev.Str("err"), `limit "h2-bytes"`) {
		t.Errorf("access line %v does not name the quota", ev)
	}
}
