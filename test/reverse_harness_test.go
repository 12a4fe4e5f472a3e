package test

// A minimal local harness for the reverse-mode e2e tests: the shared one
// (TestMain, start with a config, read the listening events) is being
// written on another branch. Everything here is prefixed rev so the two
// can live side by side until the lead folds this into the shared one.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var revBuild struct {
	once sync.Once
	path string
	err  error
}

// revBinary builds ./cmd/ferry once per test run.
func revBinary(t *testing.T) string {
	t.Helper()
	revBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "ferry-e2e-")
		if err != nil {
			revBuild.err = err
			return
		}
		revBuild.path = filepath.Join(dir, "ferry")
		out, err := exec.Command("go", "build", "-o", revBuild.path, "../cmd/ferry").CombinedOutput()
		if err != nil {
			revBuild.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if revBuild.err != nil {
		t.Fatal(revBuild.err)
	}
	return revBuild.path
}

// revFerry is one running ferry binary.
type revFerry struct {
	cmd     *exec.Cmd
	cfgPath string
	addrs   map[string]string // listener name → bound address

	mu    sync.Mutex
	lines []map[string]any
	more  chan struct{} // closed and replaced at every new line
	ended bool
	eof   chan struct{} // closed when stderr is read to the end
}

// revStart writes cfg, starts ferry on it and waits until every listener
// named in names has logged its listening event.
func revStart(t *testing.T, cfg string, names ...string) *revFerry {
	t.Helper()
	f := &revFerry{cfgPath: filepath.Join(t.TempDir(), "ferry.toml"), addrs: map[string]string{}, more: make(chan struct{}), eof: make(chan struct{})}
	if err := os.WriteFile(f.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	f.cmd = exec.Command(revBinary(t), "-config", f.cfgPath)
	stderr, err := f.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go f.read(stderr)
	t.Cleanup(func() { f.stop(t) })
	for _, name := range names {
		ev := f.waitLog(t, "listening "+name, func(m map[string]any) bool {
			return m["message"] == "listening" && m["listener"] == name
		})
		f.addrs[name] = ev["addr"].(string)
	}
	return f
}

func (f *revFerry) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			m = map[string]any{"message": "(not json)", "text": sc.Text()}
		}
		f.mu.Lock()
		f.lines = append(f.lines, m)
		close(f.more)
		f.more = make(chan struct{})
		f.mu.Unlock()
	}
	f.mu.Lock()
	f.ended = true
	close(f.more)
	f.mu.Unlock()
	close(f.eof)
}

// waitLogN returns the n-th (1-based) log line that matches, waiting up to
// 10 seconds for it.
func (f *revFerry) waitLogN(t *testing.T, n int, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		f.mu.Lock()
		seen := 0
		for _, m := range f.lines {
			if match(m) {
				seen++
				if seen == n {
					f.mu.Unlock()
					return m
				}
			}
		}
		more, ended := f.more, f.ended
		f.mu.Unlock()
		if ended {
			t.Fatalf("ferry exited before logging %s; log:\n%s", what, f.dump())
		}
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("no %s within 10s; log:\n%s", what, f.dump())
		}
	}
}

func (f *revFerry) waitLog(t *testing.T, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	return f.waitLogN(t, 1, what, match)
}

// waitAccess returns the n-th access event whose fields include want.
func (f *revFerry) waitAccess(t *testing.T, n int, want map[string]any) map[string]any {
	t.Helper()
	return f.waitLogN(t, n, fmt.Sprintf("access event %v", want), func(m map[string]any) bool {
		if m["message"] != "access" {
			return false
		}
		for k, v := range want {
			if fmt.Sprint(m[k]) != fmt.Sprint(v) {
				return false
			}
		}
		return true
	})
}

// countLog counts the lines matching so far.
func (f *revFerry) countLog(match func(map[string]any) bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, m := range f.lines {
		if match(m) {
			n++
		}
	}
	return n
}

func (f *revFerry) dump() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, m := range f.lines {
		j, _ := json.Marshal(m)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// reload rewrites the config and sends SIGHUP, waiting for the n-th
// reload event.
func (f *revFerry) reload(t *testing.T, cfg string, n int) map[string]any {
	t.Helper()
	if err := os.WriteFile(f.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	return f.waitLogN(t, n, "reload", func(m map[string]any) bool { return m["message"] == "reload" })
}

func (f *revFerry) stop(t *testing.T) {
	f.cmd.Process.Signal(syscall.SIGTERM)
	// Read stderr to its end before Wait, which closes the pipe.
	select {
	case <-f.eof:
	case <-time.After(10 * time.Second):
		f.cmd.Process.Kill()
		t.Errorf("ferry did not stop within 10s of SIGTERM")
	}
	if err := f.cmd.Wait(); err != nil {
		t.Errorf("ferry exited with %v after SIGTERM", err)
	}
	// Anything but JSON log lines on stderr is a panic or a race report.
	if n := f.countLog(func(m map[string]any) bool { return m["message"] == "(not json)" }); n > 0 {
		t.Errorf("ferry wrote %d non-log lines to stderr:\n%s", n, f.dump())
	}
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
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// revDialTLS connects through a TLS listener with sni, verifying the
// presented certificate against roots, and returns the greeting.
func revDialTLS(addr, sni string, roots *x509.CertPool) (*tls.Conn, string, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
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
