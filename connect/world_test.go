package connect_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"github.com/ferry-proxy/ferry/internal/testnet"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/connect"
	"github.com/ferry-proxy/ferry/front"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
)

// bound is the most any single step may take: it turns a hang into a
// failure and is never what a test waits for.
const bound = 10 * time.Second

// sink hands finished access records to the test.
type sink chan *accesslog.Record

func (s sink) Write(r *accesslog.Record) {
	select {
	case s <- r:
	default: // a test that does not look at the log must not block the proxy
	}
}

func (s sink) next(t testing.TB) *accesslog.Record {
	t.Helper()
	select {
	case r := <-s:
		return r
	case <-time.After(bound):
		t.Fatal("no access record written")
		return nil
	}
}

// countingListener counts the connections it accepts and hands them on
// unchanged (still *net.TCPConn).
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// world is ferry's HTTP front end behind a real front.Mux on loopback.
type world struct {
	addr    string
	url     *url.URL // http://addr, for http.ProxyURL
	log     sink
	srv     *connect.Server
	engine  *tunnel.Engine
	mux     *front.Mux
	clients *countingListener
	pool    *x509.CertPool // trusts a TLS world's certificate
}

type options struct {
	cfg      connect.Config
	engine   tunnel.Config
	policy   *tunnel.Policy // nil: allow all, direct
	maxConns int
	tls      *tls.Config  // non-nil: the listener speaks TLS (h2world_test.go)
	listener string       // the listener's name in the engine's policy; "" none
	ln       net.Listener // the world's listener; nil: a new one on 127.0.0.1:0
}

func newWorld(t testing.TB, o options) *world {
	t.Helper()
	if o.engine.DialTimeout == 0 {
		o.engine.DialTimeout = 5 * time.Second
	}
	w := &world{log: make(sink, 256)}
	engine := tunnel.New(o.engine, o.policy)
	t.Cleanup(engine.Close)
	w.engine = engine
	w.srv = connect.New(o.cfg, engine, w.log, zerolog.Nop())
	handshake := 5 * time.Second
	if o.cfg.HandshakeTimeout > 0 {
		handshake = o.cfg.HandshakeTimeout // as ferry wires both from limits.handshake_timeout
	}
	w.mux = &front.Mux{HTTP: w.srv, MaxConns: o.maxConns, HandshakeTimeout: handshake}
	w.srv.SetSlots(w.mux.Hold) // as cmd/ferry wires it
	if o.tls != nil {
		w.mux.TLS = func(net.Listener) *tls.Config { return o.tls }
	}
	if o.listener != "" {
		w.mux.BaseContext = func(net.Listener) context.Context {
			return tunnel.WithListener(context.Background(), o.listener)
		}
	}
	ln := o.ln
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	w.clients = &countingListener{Listener: ln}
	w.addr = ln.Addr().String()
	w.url = &url.URL{Scheme: "http", Host: w.addr}
	go w.mux.Serve(w.clients, front.Auto)
	t.Cleanup(func() {
		w.mux.Close()
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		defer cancel()
		w.srv.Shutdown(ctx)
		if !w.mux.Drain(ctx) {
			t.Error("connections still open at the end of the test")
		}
	})
	return w
}

// client is a net/http client using the world as its proxy.
func (w *world) client(t testing.TB) *http.Client {
	tr := &http.Transport{Proxy: http.ProxyURL(w.url), DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: bound}
}

// raw is a plain TCP conn to the proxy, for exact bytes.
type raw struct {
	*net.TCPConn
	br *bufio.Reader
}

func (w *world) raw(t testing.TB) *raw {
	t.Helper()
	c, err := net.DialTimeout("tcp", w.addr, bound)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(bound))
	return &raw{TCPConn: c.(*net.TCPConn), br: bufio.NewReader(c)}
}

func (r *raw) send(t testing.TB, s string) {
	t.Helper()
	if _, err := io.WriteString(r, s); err != nil {
		t.Fatal(err)
	}
}

// connected reads the answer to a CONNECT and fails unless it is 200;
// what follows is the tunnel (http.ReadResponse would take it as a body).
func (r *raw) connected(t testing.TB) {
	t.Helper()
	const ok = "HTTP/1.1 200 Connection established\r\n\r\n"
	head := make([]byte, len(ok))
	if _, err := io.ReadFull(r.br, head); err != nil || string(head) != ok {
		t.Fatalf("CONNECT answer %q, %v; want %q", head, err, ok)
	}
}

// response reads one response to a request of method, body included.
func (r *raw) response(t testing.TB, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(r.br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response body: %v", err)
	}
	return resp, string(b)
}

// origin is an httptest server that counts the connections it accepts.
type origin struct {
	*httptest.Server
	conns atomic.Int64
	host  string // host:port
}

func newOrigin(t testing.TB, h http.HandlerFunc) *origin {
	o := &origin{Server: httptest.NewUnstartedServer(h)}
	o.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			o.conns.Add(1)
		}
	}
	o.Start()
	t.Cleanup(o.Close)
	o.host = strings.TrimPrefix(o.URL, "http://")
	return o
}

// rawServer listens on loopback and runs serve on every conn it accepts,
// numbered from 1, under a deadline of bound; the conn is closed after.
// It returns the address.
func rawServer(t testing.TB, serve func(n int, c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for n := 1; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(bound))
				serve(n, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// echoTarget is a raw TCP target that echoes.
func echoTarget(t testing.TB) string {
	return rawServer(t, func(_ int, c net.Conn) { io.Copy(c, c) })
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t testing.TB) string { return testnet.Refused(t) }
