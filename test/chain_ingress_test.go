package test

import (
	"bufio"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/net/proxy"
)

// exampleConfig reads examples/<name> and makes it runnable here: the
// certificate files become the test PKI's, and each old → new pair in
// replace is applied (each old must be in the file, so the example cannot
// drift away from what the test runs).
func exampleConfig(t *testing.T, name string, pki *chainPKI, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, f := range []string{"ca.pem", "remote.pem", "remote.key", "laptop.pem", "laptop.key"} {
		s = strings.ReplaceAll(s, strconv.Quote(f), strconv.Quote(pki.Path(f)))
	}
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(s, replace[i]) {
			t.Fatalf("examples/%s no longer contains %q", name, replace[i])
		}
		s = strings.Replace(s, replace[i], replace[i+1], 1)
	}
	return s
}

// allowLoopbackFirst is put first in the remote's rules: the test's
// origins are on loopback, which its rules rightly deny.
const allowLoopbackFirst = `default = "deny"

[[acl.rule]]
name = "test-allow-loopback"
action = "allow"
ip = ["127.0.0.0/8", "::1"]
`

// ingressPair starts examples/remote.toml and examples/ingress.toml on
// loopback, the ingress routing everything to the remote over mutual TLS
// with Basic auth.
func ingressPair(t *testing.T) (ingress, remote *Ferry, pki *chainPKI) {
	t.Helper()
	pki = newChainPKI(t)
	remote = startFerry(t, exampleConfig(t, "remote.toml", pki,
		`address = "0.0.0.0:8443"`, `address = "127.0.0.1:0"`,
		"default = \"deny\"\n", allowLoopbackFirst))
	if ev := remote.WaitEvent("listening", nil); ev["tls"] != true {
		t.Fatalf("remote listening event %v, want tls true", ev)
	}
	ingress = startFerry(t, exampleConfig(t, "ingress.toml", pki,
		`address = "127.0.0.1:8080"`, `address = "127.0.0.1:0"`,
		"ferry.example.net:8443", remote.Addr))
	return ingress, remote, pki
}

// chainOrigins are an HTTP and an HTTPS origin on loopback that say what
// they were asked, and the HTTPS one's certificate as a PEM file.
type chainOrigins struct {
	plain, tls *httptest.Server
	tlsCA      string // PEM file of the HTTPS origin's certificate
}

func newChainOrigins(t *testing.T) *chainOrigins {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "origin saw %s via %d proxies", r.URL.Path, len(r.Header.Values("Via")))
	})
	o := &chainOrigins{plain: httptest.NewServer(h), tls: httptest.NewTLSServer(h)}
	t.Cleanup(o.plain.Close)
	t.Cleanup(o.tls.Close)
	o.tlsCA = filepath.Join(t.TempDir(), "origin.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: o.tls.Certificate().Raw})
	if err := os.WriteFile(o.tlsCA, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return o
}

func hostPort(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// TestChainIngress runs the two example configs as the README describes
// them and drives the ingress with curl, Go's net/http and x/net/proxy:
// plain HTTP (forwarded in absolute form to the remote inside TLS), HTTPS
// (CONNECT through both hops) and socks5h (the name reaches the remote,
// which resolves it).
func TestChainIngress(t *testing.T) {
	ingress, remote, _ := ingressPair(t)
	o := newChainOrigins(t)
	plain, secure := hostPort(t, o.plain.URL), hostPort(t, o.tls.URL)
	_, port, _ := net.SplitHostPort(plain)
	byName := "localhost:" + port

	type hop struct{ proto, target string }
	tests := []struct {
		name    string
		do      func(t *testing.T) string
		want    string
		ingress hop // the ingress's access event
		remote  hop // the remote's
	}{
		{"curl http", func(t *testing.T) string {
			return curl(t, "-x", "http://"+ingress.Addr, o.plain.URL+"/curl-plain")
		}, "origin saw /curl-plain via 2 proxies", hop{"http", plain}, hop{"http", plain}},
		{"curl https", func(t *testing.T) string {
			return curl(t, "-x", "http://"+ingress.Addr, "--cacert", o.tlsCA, o.tls.URL+"/curl-tls")
		}, "origin saw /curl-tls via 0 proxies", hop{"connect", secure}, hop{"connect", secure}},
		{"curl socks5h", func(t *testing.T) string {
			return curl(t, "-x", "socks5h://"+ingress.Addr, "http://"+byName+"/curl-socks")
		}, "origin saw /curl-socks via 0 proxies", hop{"socks5", byName}, hop{"connect", byName}},
		{"net/http http", func(t *testing.T) string {
			return goGet(t, ingress.Addr, nil, o.plain.URL+"/go-plain")
		}, "origin saw /go-plain via 2 proxies", hop{"http", plain}, hop{"http", plain}},
		{"net/http https", func(t *testing.T) string {
			return goGet(t, ingress.Addr, o.tls.Client().Transport.(*http.Transport).TLSClientConfig, o.tls.URL+"/go-tls")
		}, "origin saw /go-tls via 0 proxies", hop{"connect", secure}, hop{"connect", secure}},
		{"x/net/proxy socks5h", func(t *testing.T) string {
			return socksGet(t, ingress.Addr, byName, "/go-socks")
		}, "origin saw /go-socks via 0 proxies", hop{"socks5", byName}, hop{"connect", byName}},
	}
	// Tunnels to one target are told apart by their order.
	type key struct {
		f *Ferry
		h hop
	}
	seen := map[key]int{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.do(t); !strings.Contains(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			path := tt.want[len("origin saw "):strings.Index(tt.want, " via")]
			match := func(h hop) func(Event) bool {
				return func(e Event) bool {
					return e.Str("proto") == h.proto && e.Str("target") == h.target && (h.proto != "http" || strings.HasSuffix(e.Str("url"), path))
				}
			}
			nth := func(f *Ferry, h hop) Event {
				if h.proto == "http" {
					return f.WaitEvent("access", match(h))
				}
				k := key{f, h}
				seen[k]++
				return f.WaitEvents("access", match(h), seen[k])[seen[k]-1]
			}
			// No check of err: curl may end a TLS tunnel with a reset.
			ie := nth(ingress, tt.ingress)
			status := int64(200)
			if tt.ingress.proto == "socks5" {
				status = 0 // the SOCKS5 reply code
			}
			if ie.Str("upstream") != "remote" || ie.Str("route") != "default" || ie.Str("dialed") != remote.Addr || ie.Int("status") != status {
				t.Errorf("ingress access event %v: want upstream remote, route default, dialed %s", ie, remote.Addr)
			}
			re := nth(remote, tt.remote)
			if re.Str("user") != "laptop" || re.Str("rule") != "test-allow-loopback" || re.Str("upstream") != "" {
				t.Errorf("remote access event %v: want user laptop (Basic inside TLS), rule test-allow-loopback, direct", re)
			}
		})
	}
}

// goGet fetches target through the HTTP proxy at proxyAddr with net/http.
func goGet(t *testing.T, proxyAddr string, tc *tls.Config, target string) string {
	t.Helper()
	tr := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: proxyAddr}), TLSClientConfig: tc}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: ioTimeout}).Get(target)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s (Proxy-Status %q)", target, resp.StatusCode, b, resp.Header.Get("Proxy-Status"))
	}
	return string(b)
}

// socksGet sends GET path to hostport through the SOCKS5 proxy at
// proxyAddr with x/net/proxy, handing it the name.
func socksGet(t *testing.T, proxyAddr, hostport, path string) string {
	t.Helper()
	d, err := proxy.SOCKS5("tcp", proxyAddr, nil, &net.Dialer{Timeout: ioTimeout})
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Dial("tcp", hostport)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, hostport)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The remote's TLS listener as clients other than the ingress see it:
// curl as an HTTPS-proxy client gets through with a certificate and
// credentials, is asked for credentials without them, and is refused
// without a certificate; a plaintext client gets a 400 saying why.
func TestChainRemoteTLSListener(t *testing.T) {
	_, remote, pki := ingressPair(t)
	o := newChainOrigins(t)
	tlsArgs := []string{"--proxy-cacert", pki.Path("ca.pem"), "--proxy-cert", pki.Path("laptop.pem"), "--proxy-key", pki.Path("laptop.key")}
	tests := []struct {
		name   string
		args   []string
		code   int    // curl's exit status
		out    string // in stdout
		stderr string // in stderr
	}{
		{"certificate and credentials", append(tlsArgs, "-x", "https://laptop:change-me@"+remote.Addr, o.plain.URL+"/direct"), 0,
			"origin saw /direct via 1 proxies", ""},
		{"certificate, no credentials", append(tlsArgs, "-w", "%{http_code}", "-x", "https://"+remote.Addr, o.plain.URL+"/"), 0, "407", ""},
		{"no certificate", []string{"--proxy-cacert", pki.Path("ca.pem"), "-x", "https://laptop:change-me@" + remote.Addr, o.plain.URL + "/"}, 56, "", ""},
		{"plaintext", []string{"-w", "%{http_code}", "-x", "http://" + remote.Addr, o.plain.URL + "/"}, 0, "use an https:// proxy URL", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, code := runCurl(t, tt.args...)
			if tt.name == "no certificate" {
				// curl reports the failed handshake (35) or the closed
				// conn after it (56), depending on the TLS version.
				if code != 35 && code != 56 {
					t.Fatalf("curl exit %d (%s), want 35 or 56", code, stderr)
				}
				return
			}
			if code != tt.code || !strings.Contains(out, tt.out) {
				t.Fatalf("curl exit %d, out %q (stderr %q); want %d, %q", code, out, stderr, tt.code, tt.out)
			}
		})
	}
}

// tlsDialer dials TLS, for a SOCKS5 client inside TLS.
type tlsDialer struct{ cfg *tls.Config }

func (d tlsDialer) Dial(network, addr string) (net.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: ioTimeout}, network, addr, d.cfg)
}

// SOCKS5 inside TLS (no curl option for it): x/net/proxy over a TLS conn
// with the laptop's certificate, logging in with username and password.
func TestChainSOCKSInsideTLS(t *testing.T) {
	_, remote, pki := ingressPair(t)
	o := newChainOrigins(t)
	_, port, _ := net.SplitHostPort(hostPort(t, o.plain.URL))
	tc := &tls.Config{RootCAs: pki.Roots, ServerName: "ferry.example.net", Certificates: []tls.Certificate{pki.Client}}
	d, err := proxy.SOCKS5("tcp", remote.Addr, &proxy.Auth{User: "laptop", Password: "change-me"}, tlsDialer{tc})
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Dial("tcp", "localhost:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /socks-in-tls HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.Close() // the tunnel's access event is written when it ends
	if !strings.Contains(string(b), "origin saw /socks-in-tls") {
		t.Fatalf("got %q", b)
	}
	if ev := remote.WaitEvent("access", func(e Event) bool { return e.Str("proto") == "socks5" }); ev.Str("user") != "laptop" {
		t.Errorf("remote access event %v: want user laptop", ev)
	}
}

// cert_user = "cn": the client certificate names the user, which is
// enough on an auth = true listener.
func TestChainCertUser(t *testing.T) {
	pki := newChainPKI(t)
	f := startFerry(t, fmt.Sprintf(`
[[listener]]
address = "127.0.0.1:0"
auth = true
tls = { cert = %q, key = %q, client_ca = %q, cert_user = "cn" }

[[auth.user]]
name = "someone-else"
bcrypt = %q

[acl]
default = "deny"
[[acl.rule]]
name = "laptop-only"
action = "allow"
user = ["laptop"]
`, pki.Path("remote.pem"), pki.Path("remote.key"), pki.Path("ca.pem"), laptopHash))
	o := newChainOrigins(t)
	out := curl(t, "--proxy-cacert", pki.Path("ca.pem"), "--proxy-cert", pki.Path("laptop.pem"), "--proxy-key", pki.Path("laptop.key"),
		"-x", "https://"+f.Addr, o.plain.URL+"/by-cert")
	if !strings.Contains(out, "origin saw /by-cert") {
		t.Fatalf("got %q", out)
	}
	if ev := f.WaitEvent("access", nil); ev.Str("user") != "laptop" || ev.Str("rule") != "laptop-only" {
		t.Errorf("access event %v: want user laptop from the certificate, rule laptop-only", ev)
	}
}

// A TLS listener whose client certificates name the user needs no
// password users for auth = true: it starts, and the certificate's user
// gets through (#16 item 5; it was refused at start for want of users).
func TestChainCertUserWithoutPasswords(t *testing.T) {
	pki := newChainPKI(t)
	cfg := fmt.Sprintf(`
[[listener]]
address = "127.0.0.1:0"
auth = true
tls = { cert = %q, key = %q, client_ca = %q, cert_user = "cn" }
[acl]
default = "deny"
[[acl.rule]]
name = "laptop-only"
action = "allow"
user = ["laptop"]
`, pki.Path("remote.pem"), pki.Path("remote.key"), pki.Path("ca.pem"))
	if code, _, stderr := runFerry(t, "check", "-q", "-config", writeConfig(t, cfg)); code != 0 {
		t.Fatalf("ferry check: exit %d: %s", code, stderr)
	}
	f := startFerry(t, cfg)
	o := newChainOrigins(t)
	out := curl(t, "--proxy-cacert", pki.Path("ca.pem"), "--proxy-cert", pki.Path("laptop.pem"), "--proxy-key", pki.Path("laptop.key"),
		"-x", "https://"+f.Addr, o.plain.URL+"/by-cert")
	if !strings.Contains(out, "origin saw /by-cert") {
		t.Fatalf("got %q", out)
	}
	if ev := f.WaitEvent("access", nil); ev.Str("user") != "laptop" || ev.Str("rule") != "laptop-only" {
		t.Errorf("access event %v: want user laptop from the certificate, rule laptop-only", ev)
	}
	// Without cert_user the certificate names nobody: still refused.
	plain := strings.Replace(cfg, `cert_user = "cn"`, `cert_user = "none"`, 1)
	if code, _, stderr := runFerry(t, "check", "-q", "-config", writeConfig(t, plain)); code != 2 || !strings.Contains(stderr, "listener[0].auth") {
		t.Errorf("cert_user none, no users: exit %d %q, want 2 at listener[0].auth", code, stderr)
	}
}

// SIGHUP re-reads a TLS listener's certificate and client CAs: new
// connections get the new ones.
func TestChainTLSReload(t *testing.T) {
	old, cur := newChainPKI(t), newChainPKI(t)
	conf := func(p *chainPKI) string {
		return fmt.Sprintf(`
[[listener]]
address = "127.0.0.1:0"
tls = { cert = %q, key = %q, client_ca = %q }
[acl]
default = "allow"
`, p.Path("remote.pem"), p.Path("remote.key"), p.Path("ca.pem"))
	}
	f := startFerry(t, conf(old))
	o := newChainOrigins(t)
	get := func(p *chainPKI) int {
		_, _, code := runCurl(t, "--proxy-cacert", p.Path("ca.pem"), "--proxy-cert", p.Path("laptop.pem"), "--proxy-key", p.Path("laptop.key"),
			"-x", "https://"+f.Addr, o.plain.URL+"/")
		return code
	}
	if get(old) != 0 || get(cur) == 0 {
		t.Fatal("before the reload: the old PKI should work and the new one not")
	}
	if err := os.WriteFile(f.Config, []byte(conf(cur)), 0o600); err != nil {
		t.Fatal(err)
	}
	f.Signal(syscall.SIGHUP)
	if ev := f.WaitEvent("reload", nil); ev["ok"] != true {
		t.Fatalf("reload %v", ev)
	}
	if get(cur) != 0 || get(old) == 0 {
		t.Error("after the reload: the new PKI should work and the old one not")
	}
}
