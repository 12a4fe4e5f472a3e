package test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
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

// Two names on one TLS listener reach two backends; the client verifies
// each backend's own certificate through ferry (passthrough).
func TestReverseSNIPassthrough(t *testing.T) {
	pki := newRevPKI(t)
	_, _, certA := pki.leaf(t, "backend-a", "a.example.test")
	_, _, certB := pki.leaf(t, "backend-b", "b.example.test")
	a := startRevBackend(t, "A", &certA, false)
	b := startRevBackend(t, "B", &certB, false)
	f := revStart(t, revHead+fmt.Sprintf(`
[[reverse]]
name = "edge"
address = "127.0.0.1:0"
mode = "tls"
  [[reverse.route]]
  name = "ra"
  server_names = ["a.example.test"]
  backends = [{ address = %q }]
  [[reverse.route]]
  name = "rb"
  server_names = ["b.example.test"]
  backends = [{ address = %q }]
`, a.addr, b.addr), "edge")
	tests := []struct{ sni, greeting, cn, route string }{
		{"a.example.test", "A", "backend-a", "ra"},
		{"b.example.test", "B", "backend-b", "rb"},
	}
	for _, tt := range tests {
		t.Run(tt.sni, func(t *testing.T) {
			c, g, err := revDialTLS(f.addrs["edge"], tt.sni, pki.roots)
			if err != nil {
				t.Fatal(err)
			}
			if g != tt.greeting {
				t.Fatalf("greeting %q, want %q", g, tt.greeting)
			}
			if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != tt.cn {
				t.Fatalf("client saw certificate %q, want the backend's %q", cn, tt.cn)
			}
			revEcho(t, c)
			c.Close()
			ev := f.waitAccess(t, 1, map[string]any{"route": tt.route})
			if ev["proto"] != "tls" || ev["target"] != tt.sni+":"+revPortOf(f.addrs["edge"]) || ev["status"] != float64(200) {
				t.Fatalf("access event %v", ev)
			}
		})
	}
}

// A terminating route: the client verifies ferry's certificate, chosen by
// SNI, and the backend gets plain TCP.
func TestReverseTerminate(t *testing.T) {
	pki := newRevPKI(t)
	certFile, keyFile, _ := pki.leaf(t, "ferry-term", "term.example.test")
	otherCert, otherKey, _ := pki.leaf(t, "ferry-other", "other.example.test")
	plain := startRevBackend(t, "PLAIN", nil, false)
	f := revStart(t, revHead+fmt.Sprintf(`
[[reverse]]
name = "edge"
address = "127.0.0.1:0"
mode = "tls"
  [[reverse.route]]
  name = "term"
  server_names = ["term.example.test", "other.example.test"]
  tls = "terminate"
  certificates = [{ cert = %q, key = %q }, { cert = %q, key = %q }]
  backends = [{ address = %q }]
`, certFile, keyFile, otherCert, otherKey, plain.addr), "edge")
	for _, tt := range []struct{ sni, cn string }{{"term.example.test", "ferry-term"}, {"other.example.test", "ferry-other"}} {
		c, g, err := revDialTLS(f.addrs["edge"], tt.sni, pki.roots)
		if err != nil {
			t.Fatal(err)
		}
		if g != "PLAIN" {
			t.Fatalf("greeting %q", g)
		}
		if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != tt.cn {
			t.Fatalf("%s: client saw %q, want ferry's %q", tt.sni, cn, tt.cn)
		}
		revEcho(t, c)
		c.Close()
	}
}

// An unknown name with no default route gets a fatal unrecognized_name
// alert, and the log says so.
func TestReverseUnknownName(t *testing.T) {
	pki := newRevPKI(t)
	_, _, cert := pki.leaf(t, "backend-a", "a.example.test")
	a := startRevBackend(t, "A", &cert, false)
	f := revStart(t, revHead+fmt.Sprintf(`
[[reverse]]
name = "edge"
address = "127.0.0.1:0"
mode = "tls"
  [[reverse.route]]
  server_names = ["a.example.test"]
  backends = [{ address = %q }]
`, a.addr), "edge")
	_, _, err := revDialTLS(f.addrs["edge"], "nope.example.test", pki.roots)
	// crypto/tls reports a received alert by its RFC 8446 §6 name.
	if err == nil || !strings.Contains(err.Error(), "unrecognized name") {
		t.Fatalf("got %v, want a TLS unrecognized_name alert (112)", err)
	}
	ev := f.waitAccess(t, 1, map[string]any{"target": "nope.example.test:" + revPortOf(f.addrs["edge"])})
	if ev["status"] != float64(421) || ev["proxy_status"] != "destination_not_found" {
		t.Fatalf("access event %v", ev)
	}
}

// A PROXY v2 header from a trusted balancer gives ferry the real client,
// which it logs and passes on to the backend in a PROXY v1 header; the
// TLS passthrough behind the header is untouched.
func TestReverseProxyProtocol(t *testing.T) {
	pki := newRevPKI(t)
	_, _, cert := pki.leaf(t, "backend-a", "a.example.test")
	// The backend reads the PROXY line in clear, then it is a TLS server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	gotLine := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		line, _ := br.ReadString('\n')
		gotLine <- strings.TrimSpace(line)
		tc := tls.Server(&prefixConn{Conn: c, r: br}, &tls.Config{Certificates: []tls.Certificate{cert}})
		io.WriteString(tc, "A\n")
		io.Copy(tc, tc)
	}()
	f := revStart(t, revHead+fmt.Sprintf(`
[[reverse]]
name = "edge"
address = "127.0.0.1:0"
mode = "tls"
proxy_protocol_from = ["127.0.0.1/32"]
  [[reverse.route]]
  server_names = ["a.example.test"]
  proxy_protocol = 1
  backends = [{ address = %q }]
  [reverse.route.health]
  check = "none"
`, ln.Addr().String()), "edge")
	raw, err := net.DialTimeout("tcp", f.addrs["edge"], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// PROXY v2, PROXY command, TCP over IPv4: 203.0.113.7:4711 → 198.51.100.1:443.
	hdr := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c")
	hdr = append(hdr, 203, 0, 113, 7, 198, 51, 100, 1, 0x12, 0x67, 0x01, 0xbb)
	if _, err := raw.Write(hdr); err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, &tls.Config{ServerName: "a.example.test", RootCAs: pki.roots})
	if g, err := revGreeting(c); err != nil || g != "A" {
		t.Fatalf("greeting %q, %v", g, err)
	}
	line := <-gotLine
	if !strings.HasPrefix(line, "PROXY TCP4 203.0.113.7 198.51.100.1 4711 443") {
		t.Fatalf("backend got PROXY line %q", line)
	}
	revEcho(t, c)
	c.Close()
	ev := f.waitAccess(t, 1, map[string]any{"client": "203.0.113.7:4711"})
	if ev["target"] != "a.example.test:443" || ev["status"] != float64(200) {
		t.Fatalf("access event %v", ev)
	}
}

// A peer outside proxy_protocol_from that sends a PROXY header is not
// believed: the header is not TLS, so it is refused as a bad request.
func TestReverseProxyProtocolUntrusted(t *testing.T) {
	a := startRevBackend(t, "A", nil, false)
	f := revStart(t, revHead+fmt.Sprintf(`
[[reverse]]
name = "edge"
address = "127.0.0.1:0"
mode = "tls"
proxy_protocol_from = ["192.0.2.0/24"]
  [[reverse.route]]
  default = true
  backends = [{ address = %q }]
`, a.addr), "edge")
	c, err := net.DialTimeout("tcp", f.addrs["edge"], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "PROXY TCP4 203.0.113.7 198.51.100.1 4711 443\r\n")
	ev := f.waitAccess(t, 1, map[string]any{"status": 400})
	if ev["client"] == "203.0.113.7:4711" {
		t.Fatalf("an untrusted PROXY header was believed: %v", ev)
	}
}

// openssl s_client -servername reaches the named backend through ferry and
// verifies its certificate.
func TestReverseOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	pki := newRevPKI(t)
	_, _, certA := pki.leaf(t, "backend-a", "a.example.test")
	a := startRevBackend(t, "A", &certA, false)
	f := revStart(t, revHead+fmt.Sprintf(`
[[reverse]]
name = "edge"
address = "127.0.0.1:0"
mode = "tls"
  [[reverse.route]]
  server_names = ["*.example.test"]
  backends = [{ address = %q }]
`, a.addr), "edge")
	cmd := exec.Command(openssl, "s_client", "-connect", f.addrs["edge"], "-servername", "a.example.test",
		"-CAfile", pki.caFile, "-verify_return_error", "-verify_hostname", "a.example.test")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	result := make(chan string, 1)
	go func() {
		var out strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if strings.TrimSpace(sc.Text()) == "A" {
				break
			}
		}
		result <- out.String()
	}()
	select {
	case out := <-result:
		if !strings.Contains(out, "Verify return code: 0 (ok)") || !strings.Contains(out, "backend-a") {
			t.Fatalf("openssl output:\n%s", out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("openssl did not get the backend's greeting")
	}
}

// SIGHUP: new connections take the new route while an open one goes on
// to its old backend; a listener added in the new config starts.
func TestReverseReload(t *testing.T) {
	a := startRevBackend(t, "A", nil, false)
	b := startRevBackend(t, "B", nil, false)
	cfg := func(backend, extra string) string {
		return revHead + fmt.Sprintf(`
[[reverse]]
name = "tcp"
address = "127.0.0.1:0"
mode = "tcp"
  [[reverse.route]]
  backends = [{ address = %q }]
%s`, backend, extra)
	}
	f := revStart(t, cfg(a.addr, ""), "tcp")
	old := revConnFrom(t, "127.0.0.1", f.addrs["tcp"])
	if g, _ := revGreeting(old); g != "A" {
		t.Fatalf("before reload: %q", g)
	}
	ev := f.reload(t, cfg(b.addr, fmt.Sprintf(`
[[reverse]]
name = "added"
address = "127.0.0.1:0"
mode = "tcp"
  [[reverse.route]]
  backends = [{ address = %q }]
`, a.addr)), 1)
	if ev["ok"] != true {
		t.Fatalf("reload refused: %v", ev)
	}
	if g := revDialTCPFrom(t, "127.0.0.1", f.addrs["tcp"]); g != "B" {
		t.Fatalf("after reload: %q, want the new route's B", g)
	}
	revEcho(t, old) // the old connection still works
	old.Close()
	added := f.waitLog(t, "listening added", func(m map[string]any) bool {
		return m["message"] == "listening" && m["listener"] == "added"
	})
	if g := revDialTCPFrom(t, "127.0.0.1", added["addr"].(string)); g != "A" {
		t.Fatalf("added listener: %q", g)
	}

	// Removing it again closes its socket; the other listener stays.
	if ev := f.reload(t, cfg(b.addr, ""), 2); ev["ok"] != true {
		t.Fatalf("second reload refused: %v", ev)
	}
	f.waitLog(t, "reverse listener closed", func(m map[string]any) bool {
		return m["message"] == "reverse listener closed" && m["listener"] == "added"
	})
	if c, err := net.DialTimeout("tcp", added["addr"].(string), 5*time.Second); err == nil {
		c.Close()
		t.Fatal("the removed listener still accepts")
	}
	if g := revDialTCPFrom(t, "127.0.0.1", f.addrs["tcp"]); g != "B" {
		t.Fatalf("kept listener after removal of the other: %q", g)
	}
}

// revEcho checks the relay carries bytes both ways.
func revEcho(t *testing.T, c net.Conn) {
	t.Helper()
	msg := "ping through ferry\n"
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %q, %v", buf, err)
	}
}

// revConnFrom connects from a given loopback source address.
func revConnFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// revDialTCPFrom connects from src and returns the backend's greeting.
func revDialTCPFrom(t *testing.T, src, addr string) string {
	t.Helper()
	c := revConnFrom(t, src, addr)
	defer c.Close()
	g, err := revGreeting(c)
	if err != nil {
		t.Fatalf("from %s: %v", src, err)
	}
	return g
}

func revPortOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// prefixConn reads first from r (bytes already buffered), then the conn.
type prefixConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *prefixConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// Terminate and re-encrypt: ferry verifies the backend against backend_ca
// and backend_server_name; a name the backend's certificate lacks fails
// the connection (502) instead of trusting it.
func TestReverseReencrypt(t *testing.T) {
	pki := newRevPKI(t)
	certFile, keyFile, _ := pki.leaf(t, "ferry-front", "front.example.test", "wrong.example.test")
	_, _, backendCert := pki.leaf(t, "backend-inner", "inner.example.test")
	inner := startRevBackend(t, "INNER", &backendCert, false)
	route := func(name, sni, backendName string) string {
		return fmt.Sprintf(`
  [[reverse.route]]
  name = %q
  server_names = [%q]
  tls = "terminate"
  certificates = [{ cert = %q, key = %q }]
  backend_tls = true
  backend_ca = %q
  backend_server_name = %q
  retries = 0
  backends = [{ address = %q }]
  [reverse.route.health]
  check = "none"
`, name, sni, certFile, keyFile, pki.caFile, backendName, inner.addr)
	}
	f := revStart(t, revHead+`
[[reverse]]
name = "edge"
address = "127.0.0.1:0"
mode = "tls"
`+route("good", "front.example.test", "inner.example.test")+route("bad", "wrong.example.test", "other.example.test"), "edge")
	c, g, err := revDialTLS(f.addrs["edge"], "front.example.test", pki.roots)
	if err != nil || g != "INNER" {
		t.Fatalf("re-encrypted route: %q, %v", g, err)
	}
	if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "ferry-front" {
		t.Fatalf("client saw %q, want ferry's certificate", cn)
	}
	revEcho(t, c)
	c.Close()
	if _, _, err := revDialTLS(f.addrs["edge"], "wrong.example.test", pki.roots); err == nil {
		t.Fatal("a backend with the wrong name was trusted")
	}
	ev := f.waitAccess(t, 1, map[string]any{"route": "bad"})
	if ev["status"] != float64(502) || !strings.Contains(fmt.Sprint(ev["err"]), "certificate") {
		t.Fatalf("access event %v", ev)
	}
}
