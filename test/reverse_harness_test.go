package test

// Helpers of the reverse-mode e2e tests: a start that holds ferry's stderr
// to JSON, a throwaway PKI, greeting backends and TLS clients.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// revHead is the front listener every reverse test config starts with, on
// a free port so nothing binds 8080.
const revHead = `
[[listener]]
address = "127.0.0.1:0"
[log]
level = "debug"
`

// startReverse starts ferry with cfg (revHead and [[reverse]] tables);
// f.AddrOf(name) gives a reverse listener's address. Anything but JSON log
// lines on stderr (a panic, or a library writing around the logger) fails
// the test.
func startReverse(t *testing.T, cfg string) *Ferry {
	t.Helper()
	f := startFerry(t, cfg)
	f.ExpectOnlyJSON()
	return f
}

// revPKI is a throwaway CA and the certificates it signs.
type revPKI struct {
	dir    string
	caFile string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	roots  *x509.CertPool
	serial int64
}

func newRevPKI(t *testing.T) *revPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ferry test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &revPKI{dir: t.TempDir(), ca: ca, caKey: key, roots: x509.NewCertPool(), serial: 1}
	p.roots.AddCert(ca)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.caFile, "CERTIFICATE", der)
	return p
}

// leaf issues a server certificate for names; it returns the PEM files and
// the loaded pair.
func (p *revPKI) leaf(t *testing.T, cn string, names ...string) (certFile, keyFile string, pair tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     names,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(p.dir, cn+".pem")
	keyFile = filepath.Join(p.dir, cn+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	pair, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pair
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// revBackend greets every connection with its name (and, when it expects
// one, the PROXY v1 line it was sent), then echoes.
type revBackend struct {
	name string
	addr string
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	open map[net.Conn]bool
}

func startRevBackend(t *testing.T, name string, cert *tls.Certificate, proxyLine bool) *revBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cert != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}})
	}
	b := &revBackend{name: name, addr: ln.Addr().String(), ln: ln, open: map[net.Conn]bool{}}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.open[c] = true
			b.mu.Unlock()
			b.wg.Add(1)
			go b.serve(c, proxyLine)
		}
	}()
	t.Cleanup(b.stop)
	return b
}

func (b *revBackend) serve(c net.Conn, proxyLine bool) {
	defer b.wg.Done()
	defer func() {
		b.mu.Lock()
		delete(b.open, c)
		b.mu.Unlock()
		c.Close()
	}()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	greeting := b.name
	br := bufio.NewReader(c)
	if proxyLine {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		greeting += " " + strings.TrimSpace(line)
	}
	if _, err := io.WriteString(c, greeting+"\n"); err != nil {
		return
	}
	io.Copy(c, br)
}

// stop closes the listener (new dials are refused) and open conns.
func (b *revBackend) stop() {
	b.ln.Close()
	b.mu.Lock()
	for c := range b.open {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// revGreeting reads the backend's greeting line under a deadline.
func revGreeting(c net.Conn) (string, error) {
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// revDialTLS connects through a TLS listener with sni, verifying the
// presented certificate against roots, and returns the greeting.
func revDialTLS(addr, sni string, roots *x509.CertPool) (*tls.Conn, string, error) {
	d := &net.Dialer{Timeout: ioTimeout}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: sni, RootCAs: roots})
	if err != nil {
		return nil, "", err
	}
	g, err := revGreeting(c)
	if err != nil {
		c.Close()
		return nil, "", err
	}
	return c, g, nil
}

// revEcho checks the relay carries bytes both ways, under a fresh deadline:
// a reverse conn may have been open across a reload.
func revEcho(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(ioTimeout))
	echoRoundTrip(t, c, "ping through ferry\n")
}

// revDialTCPFrom connects from src and returns the backend's greeting.
func revDialTCPFrom(t *testing.T, src, addr string) string {
	t.Helper()
	c := dialFrom(t, src, addr)
	defer c.Close()
	g, err := revGreeting(c)
	if err != nil {
		t.Fatalf("from %s: %v", src, err)
	}
	return g
}

// prefixConn reads first from r (bytes already buffered), then the conn.
type prefixConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *prefixConn) Read(b []byte) (int, error) { return c.r.Read(b) }
