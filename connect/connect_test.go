package connect_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/connect"
	"github.com/ferry-proxy/ferry/tunnel"
)

func TestConnectTunnel(t *testing.T) {
	target := echoTarget(t)
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	c.connected(t)
	c.send(t, "hello tunnel")
	got := make([]byte, len("hello tunnel"))
	if _, err := io.ReadFull(c.br, got); err != nil || string(got) != "hello tunnel" {
		t.Fatalf("echo %q, %v", got, err)
	}
	c.CloseWrite()
	if rest, err := io.ReadAll(c.br); err != nil || len(rest) != 0 {
		t.Fatalf("after half-close: %q, %v; want EOF", rest, err)
	}
	r := w.log.next(t)
	if r.Proto != "connect" || r.Method != "CONNECT" || r.Target != target || r.Dialed != target ||
		r.Status != 200 || r.BytesUp != 12 || r.BytesDown != 12 || r.Err != nil {
		t.Errorf("access record = %+v", r)
	}
}

// A client may send its first payload (a TLS ClientHello, say) in the same
// write as the CONNECT head; net/http has read it into its buffer, and
// ferry must pass it on before relaying.
func TestConnectEarlyBytes(t *testing.T) {
	target := echoTarget(t)
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\nEARLY-PAYLOAD")
	want := "HTTP/1.1 200 Connection established\r\n\r\nEARLY-PAYLOAD"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c.br, got); err != nil || string(got) != want {
		t.Fatalf("got %q, %v; want the 200 then the early bytes echoed", got, err)
	}
	c.Close()
	if r := w.log.next(t); r.BytesUp != int64(len("EARLY-PAYLOAD")) {
		t.Errorf("BytesUp = %d, want the %d early bytes counted", r.BytesUp, len("EARLY-PAYLOAD"))
	}
}

// The CONNECT client conn was peeked by the mux and read by net/http, and
// still reaches the relay as *net.TCPConn: the tunnel is spliced.
func TestConnectSplices(t *testing.T) {
	target := echoTarget(t)
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	c.connected(t)
	before := tunnel.SplicedChunks()
	payload := strings.Repeat("0123456789abcdef", 1<<14)
	go io.WriteString(c, payload) // errors show as a short echo below
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(c.br, got); err != nil || string(got) != payload {
		t.Fatalf("echo of %d bytes: %v", len(payload), err)
	}
	if after := tunnel.SplicedChunks(); after <= before {
		t.Errorf("SplicedChunks %d → %d: the CONNECT tunnel was not spliced", before, after)
	}
}

// net/http's own client, proxy set, to an https origin: CONNECT + TLS.
func TestConnectHTTPSWithNetHTTP(t *testing.T) {
	o := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure "+r.URL.Path)
	}))
	t.Cleanup(o.Close)
	w := newWorld(t, options{})
	cl := w.client(t)
	cl.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: o.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	resp, err := cl.Get(o.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "secure /x" {
		t.Errorf("got %q", b)
	}
}

// Every failure answers with the status from tunnel/status.go, a text body
// that says why and a Proxy-Status header (RFC 9209).
func TestErrorResponses(t *testing.T) {
	refused := closedAddr(t)
	tests := []struct {
		name   string
		req    string
		status int
		ps     string // Proxy-Status error type; "" when net/http answers
	}{
		{"connect refused", "CONNECT " + refused + " HTTP/1.1\r\nHost: " + refused + "\r\n\r\n", 502, "connection_refused"},
		{"get refused", "GET http://" + refused + "/ HTTP/1.1\r\nHost: " + refused + "\r\n\r\n", 502, "connection_refused"},
		{"connect dns", "CONNECT ferry-test.invalid:443 HTTP/1.1\r\nHost: ferry-test.invalid:443\r\n\r\n", 502, "dns_error"},
		{"get dns", "GET http://ferry-test.invalid/ HTTP/1.1\r\nHost: ferry-test.invalid\r\n\r\n", 502, "dns_error"},
		{"connect port 0", "CONNECT 127.0.0.1:0 HTTP/1.1\r\nHost: 127.0.0.1:0\r\n\r\n", 400, "http_request_error"},
		{"connect no port", "CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", 400, "http_request_error"},
		{"get bad host", "GET http://exa_mple..com/ HTTP/1.1\r\nHost: x\r\n\r\n", 400, "http_request_error"},
		{"unsupported scheme", "GET ftp://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", 400, "http_request_error"},
		{"origin-form path", "GET /other HTTP/1.1\r\nHost: x\r\n\r\n", 400, "http_request_error"},
		{"origin-form POST /", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 400, "http_request_error"},
		{"garbage request line", "GARBAGE\r\n\r\n", 400, ""},
		{"bad header line", "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nNoColonHere\r\n\r\n", 400, ""},
		{"bad version", "GET http://example.com/ HTTP/9.9\r\nHost: example.com\r\n\r\n", 505, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, options{})
			c := w.raw(t)
			c.send(t, tt.req)
			method, _, _ := strings.Cut(tt.req, " ")
			resp, body := c.response(t, method)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d (body %q)", resp.StatusCode, tt.status, body)
			}
			if tt.ps == "" {
				return
			}
			if ps := resp.Header.Get("Proxy-Status"); !strings.HasPrefix(ps, "ferry; error="+tt.ps+"; details=") {
				t.Errorf("Proxy-Status %q, want ferry; error=%s; details=…", ps, tt.ps)
			}
			if !strings.HasPrefix(body, "ferry: ") || len(body) < 20 {
				t.Errorf("body %q does not say why", body)
			}
			r := w.log.next(t)
			if r.Status != tt.status || r.ProxyStatus != tt.ps || r.Err == nil {
				t.Errorf("access record status %d %q err %v, want %d %q and an error", r.Status, r.ProxyStatus, r.Err, tt.status, tt.ps)
			}
		})
	}
}

func TestStatusPage(t *testing.T) {
	w := newWorld(t, options{})
	resp, err := http.Get("http://" + w.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "ferry") {
		t.Errorf("GET / = %d %q, want 200 and the status page", resp.StatusCode, b)
	}
}

func TestOversizedHead(t *testing.T) {
	w := newWorld(t, options{})
	c := w.raw(t)
	// The default limit is 64 KiB; net/http allows a little slack.
	c.send(t, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nX-Big: "+strings.Repeat("a", 100<<10)+"\r\n\r\n")
	resp, _ := c.response(t, "GET")
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
}

// Over max_conns a client gets a clean 503, not a hang or a reset.
func TestMaxConnsRefusal(t *testing.T) {
	target := echoTarget(t)
	w := newWorld(t, options{maxConns: 1})
	hold := w.raw(t)
	hold.send(t, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	hold.connected(t)
	c := w.raw(t)
	c.send(t, "GET http://"+target+"/ HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	resp, body := c.response(t, "GET")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "too many") {
		t.Errorf("over the limit: %d %v %q, want 503 with Retry-After", resp.StatusCode, resp.Header, body)
	}
}

// A client that sends half a head is cut off by the handshake deadline,
// with a 408 and an access event; one that half-closes after half a head
// gets a 400. Either can still read the answer.
func TestHeadDeadline(t *testing.T) {
	w := newWorld(t, options{cfg: connect.Config{HandshakeTimeout: 100 * time.Millisecond}})
	c := w.raw(t)
	c.send(t, "GET http://example.com/ HTTP/1.1\r\nHost: exa")
	resp, body := c.response(t, "GET")
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, "handshake_timeout") {
		t.Fatalf("silent client: %d %q, want 408 naming handshake_timeout", resp.StatusCode, body)
	}
	if r := w.log.next(t); r.Status != http.StatusRequestTimeout || r.Method != "GET" {
		t.Fatalf("record: status %d method %q, want 408 GET", r.Status, r.Method)
	}

	c = w.raw(t)
	c.send(t, "CONNECT example.com:443 HTTP/1.1\r\nHost: exa")
	c.CloseWrite()
	resp, body = c.response(t, "CONNECT")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "cut short") {
		t.Fatalf("half-closed client: %d %q, want 400 saying the head was cut short", resp.StatusCode, body)
	}
	if r := w.log.next(t); r.Status != http.StatusBadRequest || r.Proto != "connect" {
		t.Fatalf("record: status %d proto %q, want 400 connect", r.Status, r.Proto)
	}
}

// A CONNECT that is not the first request on its connection is served by
// net/http: the tunnel still splices (the hijacked conn is the socket),
// runs on the relay's goroutines once the handler returns, ends with its
// access event, and gives the connection back to the mux (Drain at the
// end of the test fails if it does not).
func TestConnectAfterKeepAliveRequest(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "first") })
	target := echoTarget(t)
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "GET "+o.URL+"/ HTTP/1.1\r\nHost: "+o.host+"\r\n\r\n")
	if resp, body := c.response(t, "GET"); resp.StatusCode != 200 || body != "first" {
		t.Fatalf("first request: %d %q", resp.StatusCode, body)
	}
	if r := w.log.next(t); r.Proto != "http" {
		t.Fatalf("first record %+v", r)
	}
	c.send(t, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	c.connected(t)
	before := tunnel.SplicedChunks()
	payload := strings.Repeat("x", 256<<10)
	go io.WriteString(c, payload)
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(c.br, got); err != nil || string(got) != payload {
		t.Fatalf("echo of %d bytes: %v", len(payload), err)
	}
	if tunnel.SplicedChunks() == before {
		t.Error("the tunnel was not spliced")
	}
	c.CloseWrite()
	if rest, err := io.ReadAll(c.br); err != nil || len(rest) != 0 {
		t.Fatalf("after half-close: %q, %v; want EOF", rest, err)
	}
	if r := w.log.next(t); r.Proto != "connect" || r.Status != 200 || r.BytesUp != int64(len(payload)) || r.Err != nil {
		t.Fatalf("tunnel record %+v", r)
	}
}

// A drain past its grace cuts the tunnels still open; each one's access
// event is written before Drain returns (ferry closes the log after it).
// Here the CONNECT is net/http's (the second request on its connection).
func TestDrainCutTunnelIsLogged(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {})
	target := echoTarget(t)
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "GET "+o.URL+"/ HTTP/1.1\r\nHost: "+o.host+"\r\n\r\n")
	c.response(t, "GET")
	w.log.next(t)
	c.send(t, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	c.connected(t)
	c.send(t, "ping")
	pong := make([]byte, 4)
	if _, err := io.ReadFull(c.br, pong); err != nil {
		t.Fatal(err)
	}
	w.mux.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if w.mux.Drain(ctx) {
		t.Fatal("Drain: the open tunnel finished on its own")
	}
	select {
	case r := <-w.log:
		if r.Proto != "connect" || r.BytesUp != 4 {
			t.Fatalf("record %+v, want the tunnel's", r)
		}
	default:
		t.Fatal("Drain returned before the cut tunnel's access event was written")
	}
}
