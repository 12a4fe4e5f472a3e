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

// Two names on one TLS listener reach two backends; the client verifies
// each backend's own certificate through ferry (passthrough).
func TestReverseSNIPassthrough(t *testing.T) {
	pki := newRevPKI(t)
	_, _, certA := pki.leaf(t, "backend-a", "a.example.test")
	_, _, certB := pki.leaf(t, "backend-b", "b.example.test")
	a := startRevBackend(t, "A", &certA, false)
	b := startRevBackend(t, "B", &certB, false)
	f := startReverse(t, revHead+fmt.Sprintf(`
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
`, a.addr, b.addr))
	edge := f.AddrOf("edge")
	tests := []struct{ sni, greeting, cn, route, upstream string }{
		{"a.example.test", "A", "backend-a", "ra", a.addr},
		{"b.example.test", "B", "backend-b", "rb", b.addr},
	}
	for _, tt := range tests {
		t.Run(tt.sni, func(t *testing.T) {
			c, g, err := revDialTLS(edge, tt.sni, pki.roots)
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
			ev := f.WaitEvent("access", func(e Event) bool { return e.Str("route") == tt.route })
			if ev["proto"] != "tls" || ev["target"] != fmt.Sprintf("%s:%d", tt.sni, portOf(t, edge)) || ev["status"] != float64(200) {
				t.Fatalf("access event %v", ev)
			}
			// README: upstream is the backend as configured.
			if ev["upstream"] != tt.upstream || ev["dialed"] != tt.upstream {
				t.Fatalf("access event upstream %v dialed %v, want %s", ev["upstream"], ev["dialed"], tt.upstream)
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
	f := startReverse(t, revHead+fmt.Sprintf(`
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
`, certFile, keyFile, otherCert, otherKey, plain.addr))
	edge := f.AddrOf("edge")
	for _, tt := range []struct{ sni, cn string }{{"term.example.test", "ferry-term"}, {"other.example.test", "ferry-other"}} {
		c, g, err := revDialTLS(edge, tt.sni, pki.roots)
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
	f := startReverse(t, revHead+fmt.Sprintf(`
[[reverse]]
name = "edge"
address = "127.0.0.1:0"
mode = "tls"
  [[reverse.route]]
  server_names = ["a.example.test"]
  backends = [{ address = %q }]
`, a.addr))
	edge := f.AddrOf("edge")
	_, _, err := revDialTLS(edge, "nope.example.test", pki.roots)
	// crypto/tls reports a received alert by its RFC 8446 §6 name.
	if err == nil || !strings.Contains(err.Error(), "unrecognized name") {
		t.Fatalf("got %v, want a TLS unrecognized_name alert (112)", err)
	}
	target := fmt.Sprintf("nope.example.test:%d", portOf(t, edge))
	ev := f.WaitEvent("access", func(e Event) bool { return e.Str("target") == target })
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
		c.SetDeadline(time.Now().Add(ioTimeout))
		br := bufio.NewReader(c)
		line, _ := br.ReadString('\n')
		gotLine <- strings.TrimSpace(line)
		tc := tls.Server(&prefixConn{Conn: c, r: br}, &tls.Config{Certificates: []tls.Certificate{cert}})
		io.WriteString(tc, "A\n")
		io.Copy(tc, tc)
	}()
	f := startReverse(t, revHead+fmt.Sprintf(`
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
`, ln.Addr().String()))
	edge := f.AddrOf("edge")
	raw := dial(t, edge)
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
	ev := f.WaitEvent("access", func(e Event) bool { return e.Str("client") == "203.0.113.7:4711" })
	if ev["target"] != "a.example.test:443" || ev["status"] != float64(200) {
		t.Fatalf("access event %v", ev)
	}
}

// A peer outside proxy_protocol_from that sends a PROXY header is not
// believed: the header is not TLS, so it is refused as a bad request, and
// the access line says it was an untrusted PROXY header.
func TestReverseProxyProtocolUntrusted(t *testing.T) {
	a := startRevBackend(t, "A", nil, false)
	f := startReverse(t, revHead+fmt.Sprintf(`
[[reverse]]
name = "edge"
address = "127.0.0.1:0"
mode = "tls"
proxy_protocol_from = ["192.0.2.0/24"]
  [[reverse.route]]
  default = true
  backends = [{ address = %q }]
`, a.addr))
	edge := f.AddrOf("edge")
	v2 := append([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c"), 203, 0, 113, 7, 198, 51, 100, 1, 0x12, 0x67, 1, 0xbb)
	for _, hdr := range [][]byte{[]byte("PROXY TCP4 203.0.113.7 198.51.100.1 4711 443\r\n"), v2} {
		c := dial(t, edge)
		client := c.LocalAddr().String()
		c.Write(hdr)
		ev := f.WaitEvent("access", func(e Event) bool { return e.Str("client") == client })
		c.Close()
		if ev.Int("status") != 400 {
			t.Fatalf("an untrusted PROXY header was believed: %v", ev)
		}
		// The log says why, for whoever left a balancer out of the list.
		if !strings.Contains(ev.Str("err"), "PROXY header from 127.0.0.1, which proxy_protocol_from does not list") {
			t.Errorf("access line err %q, want it to name the untrusted PROXY header", ev.Str("err"))
		}
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
	f := startReverse(t, revHead+fmt.Sprintf(`
[[reverse]]
name = "edge"
address = "127.0.0.1:0"
mode = "tls"
  [[reverse.route]]
  server_names = ["*.example.test"]
  backends = [{ address = %q }]
`, a.addr))
	edge := f.AddrOf("edge")
	cmd := exec.Command(openssl, "s_client", "-connect", edge, "-servername", "a.example.test",
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
	case <-time.After(ioTimeout):
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
	f := startReverse(t, cfg(a.addr, ""))
	tcp := f.AddrOf("tcp")
	old := dialFrom(t, "127.0.0.1", tcp)
	if g, _ := revGreeting(old); g != "A" {
		t.Fatalf("before reload: %q", g)
	}
	ev := f.Reload(cfg(b.addr, fmt.Sprintf(`
[[reverse]]
name = "added"
address = "127.0.0.1:0"
mode = "tcp"
  [[reverse.route]]
  backends = [{ address = %q }]
`, a.addr)))
	if ev["ok"] != true {
		t.Fatalf("reload refused: %v", ev)
	}
	if g := revDialTCPFrom(t, "127.0.0.1", tcp); g != "B" {
		t.Fatalf("after reload: %q, want the new route's B", g)
	}
	revEcho(t, old) // the old connection still works
	old.Close()
	added := f.AddrOf("added")
	if g := revDialTCPFrom(t, "127.0.0.1", added); g != "A" {
		t.Fatalf("added listener: %q", g)
	}

	// Removing it again closes its socket; the other listener stays.
	if ev := f.Reload(cfg(b.addr, "")); ev["ok"] != true {
		t.Fatalf("second reload refused: %v", ev)
	}
	f.WaitEvent("reverse listener closed", func(e Event) bool { return e.Str("listener") == "added" })
	if c, err := net.DialTimeout("tcp", added, ioTimeout); err == nil {
		c.Close()
		t.Fatal("the removed listener still accepts")
	}
	if g := revDialTCPFrom(t, "127.0.0.1", tcp); g != "B" {
		t.Fatalf("kept listener after removal of the other: %q", g)
	}
}

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
	f := startReverse(t, revHead+`
[[reverse]]
name = "edge"
address = "127.0.0.1:0"
mode = "tls"
`+route("good", "front.example.test", "inner.example.test")+route("bad", "wrong.example.test", "other.example.test"))
	edge := f.AddrOf("edge")
	c, g, err := revDialTLS(edge, "front.example.test", pki.roots)
	if err != nil || g != "INNER" {
		t.Fatalf("re-encrypted route: %q, %v", g, err)
	}
	if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "ferry-front" {
		t.Fatalf("client saw %q, want ferry's certificate", cn)
	}
	revEcho(t, c)
	c.Close()
	if _, _, err := revDialTLS(edge, "wrong.example.test", pki.roots); err == nil {
		t.Fatal("a backend with the wrong name was trusted")
	}
	ev := f.WaitEvent("access", func(e Event) bool { return e.Str("route") == "bad" })
	if ev["status"] != float64(502) || !strings.Contains(fmt.Sprint(ev["err"]), "certificate") {
		t.Fatalf("access event %v", ev)
	}
}
