package connect_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/front"
	"golang.org/x/net/http2"
)

// pki is a self-signed certificate for 127.0.0.1 and the pool that trusts it.
type pki struct {
	cert tls.Certificate
	pool *x509.CertPool
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ferry"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	p := &pki{cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool: x509.NewCertPool()}
	p.pool.AddCert(leaf)
	return p
}

// newH2World is a world whose listener speaks TLS and offers h2 by ALPN,
// as ferry's TLS listeners do.
func newH2World(t testing.TB, o options) *world {
	t.Helper()
	p := newPKI(t)
	o.tls = &tls.Config{Certificates: []tls.Certificate{p.cert}, MinVersion: tls.VersionTLS12,
		NextProtos: []string{front.ALPNHTTP2, front.ALPNHTTP1}}
	w := newWorld(t, o)
	w.pool = p.pool
	return w
}

// h2 opens one HTTP/2 connection to the world: every stream of the test
// goes on it.
func (w *world) h2(t testing.TB) *http2.ClientConn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: bound}, "tcp", w.addr,
		&tls.Config{RootCAs: w.pool, ServerName: "127.0.0.1", NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		c.Close()
		t.Fatalf("ALPN chose %q, want h2", p)
	}
	cc, err := (&http2.Transport{}).NewClientConn(c)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// h2Tunnel is a CONNECT stream: writes go up as the request's DATA,
// reads come from the response's.
type h2Tunnel struct {
	res *http.Response
	up  *io.PipeWriter
}

func (s *h2Tunnel) Write(p []byte) (int, error) { return s.up.Write(p) }
func (s *h2Tunnel) Read(p []byte) (int, error)  { return s.res.Body.Read(p) }
func (s *h2Tunnel) Close() error                { s.up.Close(); return s.res.Body.Close() }

// connect sends CONNECT target on cc with header h and returns the
// response; a 200's stream is open for the test.
func connectH2(t testing.TB, cc *http2.ClientConn, target string, h http.Header) (*http.Response, *h2Tunnel) {
	t.Helper()
	pr, pw := io.Pipe()
	if h == nil {
		h = http.Header{}
	}
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Host: target}, Host: target, Header: h, Body: pr}
	res, err := cc.RoundTrip(req)
	if err != nil {
		pw.Close()
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	s := &h2Tunnel{res: res, up: pw}
	t.Cleanup(func() { s.Close() })
	return res, s
}
