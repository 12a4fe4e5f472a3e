package tunnel_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// A test world for upstreams: parent proxies on 127.0.0.1:0 that speak
// just enough HTTP CONNECT or SOCKS5, and misbehave on request.

// serveLoopback accepts on ln and runs serve per conn until cleanup, which
// closes the listener and the open conns and waits for the handlers.
func serveLoopback(t testing.TB, ln net.Listener, serve func(c net.Conn)) string {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(bound))
				serve(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func loopbackListener(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// echoServer echoes every byte and passes the half-close on.
func echoServer(t testing.TB) string {
	return serveLoopback(t, loopbackListener(t), func(c net.Conn) {
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite()
	})
}

// httpParent is a CONNECT proxy: it checks Basic credentials when user is
// set, dials the target (or redirect when set, whatever was asked) and
// relays. Every CONNECT target it was asked for is sent on seen.
type httpParent struct {
	user, pass string
	redirect   string
	tls        *tls.Config
	seen       chan string
}

func (p *httpParent) start(t testing.TB) string {
	t.Helper()
	if p.seen == nil {
		p.seen = make(chan string, 64)
	}
	ln := loopbackListener(t)
	if p.tls != nil {
		ln = tls.NewListener(ln, p.tls)
	}
	return serveLoopback(t, ln, p.serve)
}

func (p *httpParent) serve(c net.Conn) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		return
	}
	select {
	case p.seen <- req.Host:
	default:
	}
	if p.user != "" {
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(p.user+":"+p.pass))
		if req.Header.Get("Proxy-Authorization") != want {
			io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\nContent-Length: 0\r\n\r\n")
			return
		}
	}
	target := req.Host
	if p.redirect != "" {
		target = p.redirect
	}
	s, err := net.DialTimeout("tcp", target, bound)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nProxy-Status: parent; error=connection_refused; details=\"dial\"\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer s.Close()
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	c.SetDeadline(time.Time{})
	pipe(c, br, s)
}

// pipe relays c (whose reads go through r) and s until both ends closed.
func pipe(c net.Conn, r io.Reader, s net.Conn) {
	done := make(chan struct{})
	go func() {
		io.Copy(c, s)
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		close(done)
	}()
	io.Copy(s, r)
	s.(*net.TCPConn).CloseWrite()
	<-done
}

// answeringParent reads a request head and answers it with answer, then
// waits for the client to close (or after is run on the conn).
func answeringParent(t testing.TB, answer string) string {
	return serveLoopback(t, loopbackListener(t), func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, answer)
		io.Copy(io.Discard, br)
	})
}

// silentParent accepts and never answers.
func silentParent(t testing.TB) string {
	return serveLoopback(t, loopbackListener(t), func(c net.Conn) { io.Copy(io.Discard, c) })
}

// socksParent is a SOCKS5 server: username/password when user is set,
// then it answers rep (0 dials the target, or redirect, and relays).
// Targets asked for go to seen as host:port.
type socksParent struct {
	user, pass string
	rep        byte
	redirect   string
	seen       chan string
}

func (p *socksParent) start(t testing.TB) string {
	t.Helper()
	if p.seen == nil {
		p.seen = make(chan string, 64)
	}
	return serveLoopback(t, loopbackListener(t), p.serve)
}

func (p *socksParent) serve(c net.Conn) {
	var h [2]byte
	if _, err := io.ReadFull(c, h[:]); err != nil || h[0] != 5 {
		return
	}
	methods := make([]byte, h[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return
	}
	if p.user != "" {
		if !bytes.Contains(methods, []byte{2}) {
			c.Write([]byte{5, 0xff})
			return
		}
		c.Write([]byte{5, 2})
		var v [2]byte
		io.ReadFull(c, v[:])
		u := make([]byte, v[1])
		io.ReadFull(c, u)
		var pl [1]byte
		io.ReadFull(c, pl[:])
		pw := make([]byte, pl[0])
		io.ReadFull(c, pw)
		if string(u) != p.user || string(pw) != p.pass {
			c.Write([]byte{1, 1})
			return
		}
		c.Write([]byte{1, 0})
	} else {
		c.Write([]byte{5, 0})
	}
	var r [4]byte
	if _, err := io.ReadFull(c, r[:]); err != nil {
		return
	}
	var host string
	switch r[3] {
	case 1:
		b := make([]byte, 4)
		io.ReadFull(c, b)
		host = net.IP(b).String()
	case 4:
		b := make([]byte, 16)
		io.ReadFull(c, b)
		host = net.IP(b).String()
	case 3:
		var n [1]byte
		io.ReadFull(c, n[:])
		b := make([]byte, n[0])
		io.ReadFull(c, b)
		host = string(b)
	}
	var pb [2]byte
	io.ReadFull(c, pb[:])
	target := net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(pb[:]))))
	select {
	case p.seen <- target:
	default:
	}
	reply := []byte{5, p.rep, 0, 1, 127, 0, 0, 1, 0, 0}
	if p.rep != 0 {
		c.Write(reply)
		return
	}
	if p.redirect != "" {
		target = p.redirect
	}
	s, err := net.DialTimeout("tcp", target, bound)
	if err != nil {
		reply[1] = 5
		c.Write(reply)
		return
	}
	defer s.Close()
	c.Write(reply)
	c.SetDeadline(time.Time{})
	pipe(c, c, s)
}

// pki is a CA with a server certificate for 127.0.0.1 and a client one.
type pki struct {
	roots  *x509.CertPool
	server tls.Certificate
	client tls.Certificate
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	p := &pki{roots: x509.NewCertPool()}
	p.roots.AddCert(caCert)
	p.server = leaf(2, "parent", x509.ExtKeyUsageServerAuth)
	p.client = leaf(3, "ferry", x509.ExtKeyUsageClientAuth)
	return p
}

// serverTLS requires a client certificate from the CA when mutual.
func (p *pki) serverTLS(mutual bool) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
	if mutual {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = p.roots
	}
	return c
}
