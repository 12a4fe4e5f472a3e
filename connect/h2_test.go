package connect_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/auth"
	"github.com/ferry-proxy/ferry/tunnel"
	"golang.org/x/net/http2"
)

// Tunnels from one client share its one TLS connection: CONNECT streams
// (RFC 9113 §8.5), several at once, each echoing its own bytes, each with
// an access line that says h2.
func TestH2ConnectStreams(t *testing.T) {
	w := newH2World(t, options{})
	echo := echoTarget(t)
	cc := w.h2(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		res, s := connectH2(t, cc, echo, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT status %d", res.StatusCode)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := bytes.Repeat([]byte{byte('a' + i)}, 100<<10)
			go s.Write(msg)
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, msg) {
				errs <- fmt.Errorf("stream %d: echo wrong (%v)", i, err)
			}
			s.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := w.clients.n.Load(); got != 1 {
		t.Errorf("%d TCP connections, want 1: the streams share it", got)
	}
	for range n {
		r := w.log.next(t)
		if r.Version != "h2" || r.Proto != tunnel.ProtoConnect || r.Target != echo || r.Status != 200 {
			t.Errorf("record version %q proto %q target %q status %d", r.Version, r.Proto, r.Target, r.Status)
		}
	}
}

// A target that closes its side ends the stream (END_STREAM): the client
// reads everything, then EOF, not a hang until the idle timeout.
func TestH2ConnectTargetCloses(t *testing.T) {
	w := newH2World(t, options{})
	target := rawServer(t, func(_ int, c net.Conn) { io.WriteString(c, "hello and goodbye") })
	res, s := connectH2(t, w.h2(t), target, nil)
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "hello and goodbye" {
		t.Fatalf("read %q, %v; want the target's bytes, then EOF", got, err)
	}
	r := w.log.next(t)
	if r.BytesDown != int64(len(got)) || r.Err != nil {
		t.Errorf("record bytes_down %d err %v", r.BytesDown, r.Err)
	}
}

// Refusals on a stream are answered on that stream with the status and
// Proxy-Status HTTP/1.1 gets, and the connection carries on.
func TestH2ConnectRefusals(t *testing.T) {
	pol := &tunnel.Policy{ACL: decideFunc(func(q *acl.Query) acl.Verdict {
		if q.Port == 25 {
			return acl.Verdict{Rule: "no-smtp"}
		}
		return acl.Verdict{Allow: true, Rule: "ok"}
	})}
	w := newH2World(t, options{policy: pol})
	cc := w.h2(t)
	tests := []struct {
		target string
		status int
		ps     string
	}{
		{"127.0.0.1:25", 403, "destination_ip_prohibited"},
		{closedAddr(t), 502, "connection_refused"},
		{"ferry-test.invalid:443", 502, "dns_error"},
		{"127.0.0.1:0", 400, "http_request_error"},
	}
	for _, tt := range tests {
		res, _ := connectH2(t, cc, tt.target, nil)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != tt.status || !strings.HasPrefix(res.Header.Get("Proxy-Status"), "ferry; error="+tt.ps) {
			t.Errorf("CONNECT %s: %d %q, want %d %s (body %q)", tt.target, res.StatusCode, res.Header.Get("Proxy-Status"), tt.status, tt.ps, body)
		}
		r := w.log.next(t)
		if r.Version != "h2" || r.Status != tt.status || r.ProxyStatus != tt.ps {
			t.Errorf("record %q %d %q", r.Version, r.Status, r.ProxyStatus)
		}
	}
	// Still usable after the refusals.
	res, s := connectH2(t, cc, echoTarget(t), nil)
	if res.StatusCode != 200 {
		t.Fatalf("CONNECT after refusals: %d", res.StatusCode)
	}
	go io.WriteString(s, "ok")
	if b := make([]byte, 2); func() error { _, err := io.ReadFull(s, b); return err }() != nil || string(b) != "ok" {
		t.Errorf("echo after refusals: %q", b)
	}
}

// fakeUsers knows alice with password "right".
type fakeUsers struct{}

func (fakeUsers) Verify(_ context.Context, u, p string) (bool, error) {
	return u == "alice" && p == "right", nil
}
func (fakeUsers) Cached(u, p string) bool { return false }
func (fakeUsers) Throttle() auth.Throttle { return auth.Throttle{} }

// Credentials are per stream (Proxy-Authorization on each request): on
// one connection, a stream without them gets 407 with the challenge, one
// with them is served as the user, and one with wrong ones 407.
func TestH2AuthPerStream(t *testing.T) {
	pol := &tunnel.Policy{Users: fakeUsers{}, Listeners: map[string]tunnel.ListenerPolicy{"secure": {Auth: true}}}
	w := newH2World(t, options{policy: pol, listener: "secure"})
	cc := w.h2(t)
	echo := echoTarget(t)
	basic := func(up string) http.Header {
		return http.Header{"Proxy-Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(up))}}
	}
	tests := []struct {
		name   string
		h      http.Header
		status int
		user   string
	}{
		{"none", nil, 407, ""},
		{"right", basic("alice:right"), 200, "alice"},
		{"wrong", basic("alice:wrong"), 407, ""},
	}
	for _, tt := range tests {
		res, s := connectH2(t, cc, echo, tt.h)
		if res.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, res.StatusCode, tt.status)
		}
		if tt.status == 407 && !strings.HasPrefix(res.Header.Get("Proxy-Authenticate"), "Basic ") {
			t.Errorf("%s: 407 without the Basic challenge: %v", tt.name, res.Header)
		}
		s.Close()
		if r := w.log.next(t); r.User != tt.user || r.Status != tt.status {
			t.Errorf("%s: record user %q status %d", tt.name, r.User, r.Status)
		}
	}
}

// Plain requests on streams are forwarded as absolute-form ones are: the
// origin gets them (Via says 2), the answer comes back, a body goes up,
// and the access line says h2 with the URL.
func TestH2Forward(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Via", r.Header.Get("Via"))
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
	})
	w := newH2World(t, options{})
	cc := w.h2(t)
	tests := []struct {
		method, body, want string
	}{
		{"GET", "", "GET /a "},
		{"POST", "uploaded", "POST /a uploaded"},
	}
	for _, tt := range tests {
		var body io.Reader
		if tt.body != "" {
			body = strings.NewReader(tt.body)
		}
		req, _ := http.NewRequest(tt.method, "http://"+o.host+"/a", body)
		res, err := cc.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(got) != tt.want {
			t.Errorf("%s: %d %q, want 200 %q", tt.method, res.StatusCode, got, tt.want)
		}
		if v := res.Header.Get("X-Via"); v != "2 ferry" {
			t.Errorf("%s: origin saw Via %q, want %q", tt.method, v, "2 ferry")
		}
		r := w.log.next(t)
		if r.Version != "h2" || r.Proto != tunnel.ProtoHTTP || r.URL != "http://"+o.host+"/a" || r.Status != 200 ||
			r.BytesUp != int64(len(tt.body)) || r.BytesDown != int64(len(tt.want)) {
			t.Errorf("%s: record %q %q %q %d up %d down %d", tt.method, r.Version, r.Proto, r.URL, r.Status, r.BytesUp, r.BytesDown)
		}
	}
	if n := o.conns.Load(); n != 1 {
		t.Errorf("origin saw %d connections, want 1 (pooled)", n)
	}
}

// A connection that joins a generation just as GoAway ends it is sent
// GOAWAY at its next stream because the handler answers with
// "Connection: close", which x/net's server turns into GOAWAY (RFC 9113
// has no Connection field). This checks that x/net still does.
func TestH2ConnectionCloseSendsGoAway(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	srv := &http2.Server{}
	go srv.ServeConn(server, &http2.ServeConnOpts{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})})
	cc, err := (&http2.Transport{AllowHTTP: true}).NewClientConn(client)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://ferry/", nil)
	res, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.Header.Get("Connection") != "" {
		t.Errorf("a Connection field reached the client: %q", res.Header.Get("Connection"))
	}
	// The GOAWAY follows the response's frames on the same conn; a ping
	// after it has been read proves the client saw it first.
	cc.Ping(context.Background())
	if cc.CanTakeNewRequest() {
		t.Fatal("the connection still takes new streams after a response that said close: no GOAWAY")
	}
}
