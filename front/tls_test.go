package front

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// testCerts is a self-signed CA that signed a server certificate for
// 127.0.0.1 and a client certificate for CN "alice".
type testCerts struct {
	pool           *x509.CertPool
	server, client tls.Certificate
}

func newTestCerts(t *testing.T) *testCerts {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, ca, ca, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(der)
	leaf := func(n int64, cn string, u x509.ExtKeyUsage) tls.Certificate {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(n), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{u}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
		d, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{d}, PrivateKey: k}
	}
	c := &testCerts{pool: x509.NewCertPool()}
	c.pool.AddCert(caCert)
	c.server = leaf(2, "proxy", x509.ExtKeyUsageServerAuth)
	c.client = leaf(3, "alice", x509.ExtKeyUsageClientAuth)
	return c
}

type userKey struct{}

// tlsWorld is a world whose listener speaks TLS, requiring a client
// certificate, whose CN the TLSContext hook puts in the context.
func tlsWorld(t *testing.T, certs *testCerts, m *Mux, alpn ...string) *world {
	m.TLS = func(net.Listener) *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{certs.server}, ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs: certs.pool, MinVersion: tls.VersionTLS12, NextProtos: alpn}
	}
	m.TLSContext = func(ctx context.Context, _ net.Listener, cs tls.ConnectionState) context.Context {
		return context.WithValue(ctx, userKey{}, cs.PeerCertificates[0].Subject.CommonName)
	}
	return newWorld(t, Auto, m, 3)
}

// Inside TLS the first byte still picks the handler, which reads it, and
// the handshake's context reaches it.
func TestMuxTLSDispatchesInside(t *testing.T) {
	certs := newTestCerts(t)
	for _, tt := range []struct {
		in   string
		want Protocol
	}{{"\x05\x01\x00", SOCKS}, {"GET", HTTP}} {
		w := tlsWorld(t, certs, &Mux{})
		raw := w.dial(t)
		c := tls.Client(raw, &tls.Config{RootCAs: certs.pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{certs.client}})
		if _, err := c.Write([]byte(tt.in)); err != nil {
			t.Fatal(err)
		}
		var s served
		select {
		case s = <-w.http.ch:
		case s = <-w.socks.ch:
		case <-time.After(bound):
			t.Fatal("no handler called")
		}
		if s.proto != tt.want || string(s.data) != tt.in {
			t.Errorf("%q: served by %q reading %q", tt.in, s.proto, s.data)
		}
		if u, _ := s.ctx.Value(userKey{}).(string); u != "alice" {
			t.Errorf("context user %q, want alice from the client certificate", u)
		}
	}
}

type plaintextRefuser struct{ *recorder }

func (plaintextRefuser) RefusePlaintext(c net.Conn) {
	io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\nuse TLS\n")
}

// A plaintext client on a TLS listener is told, and no handler serves it;
// a TLS client without a certificate is closed after the handshake fails.
func TestMuxTLSRefusesPlaintext(t *testing.T) {
	certs := newTestCerts(t)
	http := &recorder{proto: HTTP, ch: make(chan served, 1)}
	w := tlsWorld(t, certs, &Mux{HTTP: plaintextRefuser{http}})
	c := w.dial(t)
	io.WriteString(c, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
	b, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "HTTP/1.1 400") {
		t.Errorf("plaintext client got %q, want a 400", b)
	}

	socks := w.dial(t)
	socks.Write([]byte{5, 1, 0})
	if b, err := io.ReadAll(socks); len(b) != 0 || err != nil {
		t.Errorf("plaintext SOCKS client got %q, %v; want a clean close", b, err)
	}

	raw := w.dial(t)
	tc := tls.Client(raw, &tls.Config{RootCAs: certs.pool, ServerName: "127.0.0.1"})
	tc.Write([]byte("GET"))
	if _, err := tc.Read(make([]byte, 1)); err == nil {
		t.Error("a client without a certificate was served")
	}
	select {
	case s := <-http.ch:
		t.Errorf("a handler served %+v", s)
	default:
	}
}

// A client that chose h2 by ALPN goes to the HTTP handler unsniffed, as
// the *tls.Conn with nothing read ahead: it speaks HTTP/2 whatever its
// first bytes, and the handler reads its preface itself. One that chose
// http/1.1 is sniffed as before.
func TestMuxTLSHTTP2SkipsSniff(t *testing.T) {
	certs := newTestCerts(t)
	w := tlsWorld(t, certs, &Mux{}, ALPNHTTP2, ALPNHTTP1)
	for _, alpn := range []string{ALPNHTTP2, ALPNHTTP1} {
		raw := w.dial(t)
		c := tls.Client(raw, &tls.Config{RootCAs: certs.pool, ServerName: "127.0.0.1",
			Certificates: []tls.Certificate{certs.client}, NextProtos: []string{alpn}})
		// A SOCKS first byte: only the sniff would take it for SOCKS.
		if _, err := c.Write([]byte{5, 1, 0}); err != nil {
			t.Fatal(err)
		}
		var s served
		select {
		case s = <-w.http.ch:
		case s = <-w.socks.ch:
		case <-time.After(bound):
			t.Fatal("no handler called")
		}
		switch {
		case alpn == ALPNHTTP2 && (s.proto != HTTP || s.seen != nil || s.connT != "*tls.Conn"):
			t.Errorf("h2: served by %q as %s, seen %q; want HTTP, the *tls.Conn, nothing sniffed", s.proto, s.connT, s.seen)
		case alpn == ALPNHTTP1 && s.proto != SOCKS:
			t.Errorf("http/1.1: served by %q, want the sniff's SOCKS", s.proto)
		}
	}
}
