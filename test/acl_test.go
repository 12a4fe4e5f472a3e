package test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/net/proxy"
)

// aclOrigin is an HTTP origin on loopback that counts requests carrying
// Proxy-Authorization (there must be none: it is hop-by-hop).
type aclOrigin struct {
	*httptest.Server
	leaked atomic.Int32
	port   string
}

func newACLOrigin(t *testing.T) *aclOrigin {
	o := &aclOrigin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Proxy-Authorization") != "" {
			o.leaked.Add(1)
		}
		io.WriteString(w, "hello from origin\n")
	}))
	t.Cleanup(o.Close)
	_, o.port, _ = net.SplitHostPort(o.Listener.Addr().String())
	return o
}

// aclEcho is a TCP echo server on loopback.
func aclEcho(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func bcryptOf(t *testing.T, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// authConfig: a loopback listener requiring auth, alice (secret) in group
// staff, a block list, staff allowed to the test origins, and the usual
// internal-destination deny after that.
func authConfig(t *testing.T, originPort, echoPort string) string {
	return aclWriteConfig(t, fmt.Sprintf(`
[[listener]]
address = "127.0.0.1:0"
auth = true
socks4_auth = true

[[auth.user]]
name = "alice"
bcrypt = %q
[[auth.user]]
name = "mallory"
bcrypt = %q

[auth.groups]
staff = ["alice"]

[acl]
default = "deny"

[[acl.rule]]
name = "blocklist"
action = "deny"
domain_list = "blocked.txt"

[[acl.rule]]
name = "staff-to-test-origins"
action = "allow"
group = "staff"
ip = "127.0.0.1"
port = [%s, %s]

[[acl.rule]]
name = "deny-internal-destinations"
action = "deny"
ip = ["127.0.0.0/8", "::1", "10.0.0.0/8"]
`, bcryptOf(t, "secret"), bcryptOf(t, "m-pass"), originPort, echoPort),
		map[string]string{"blocked.txt": "# test list\n||blocked.test^\n0.0.0.0 ads.test\nnot a rule line\n"})
}

func TestACLHTTPAuthAllowDeny(t *testing.T) {
	origin := newACLOrigin(t)
	echo := aclEcho(t)
	_, echoPort, _ := net.SplitHostPort(echo)
	p := aclStart(t, "-config", authConfig(t, origin.port, echoPort))
	proxyURL := "http://" + p.addr
	target := origin.URL + "/path"

	t.Run("allowed with credentials", func(t *testing.T) {
		out, errs, code := aclCurl(t, "-x", proxyURL, "--proxy-user", "alice:secret", target)
		if code != 0 || out != "hello from origin\n" {
			t.Fatalf("curl exit %d: %q %s", code, out, errs)
		}
		ev := p.access(t, "/path")
		if ev["user"] != "alice" || ev["rule"] != "staff-to-test-origins" || ev["decision"] != "allow" || ev["status"] != 200.0 {
			t.Fatalf("access event %v", ev)
		}
		if origin.leaked.Load() != 0 {
			t.Fatal("Proxy-Authorization reached the origin")
		}
	})
	t.Run("tunnel with credentials", func(t *testing.T) {
		out, errs, code := aclCurl(t, "-p", "-x", proxyURL, "--proxy-user", "alice:secret", target)
		if code != 0 || out != "hello from origin\n" {
			t.Fatalf("curl -p exit %d: %q %s", code, out, errs)
		}
		if ev := p.access(t, "127.0.0.1:"+origin.port); ev["proto"] != "connect" || ev["rule"] != "staff-to-test-origins" {
			t.Fatalf("access event %v", ev)
		}
	})
	t.Run("407 without credentials", func(t *testing.T) {
		out, _, _ := aclCurl(t, "-x", proxyURL, "-D", "-", "-o", "/dev/null", target)
		if !strings.HasPrefix(out, "HTTP/1.1 407") || !strings.Contains(out, `Proxy-Authenticate: Basic realm="ferry"`) {
			t.Fatalf("response head:\n%s", out)
		}
		if ev := p.access(t, "/path"); ev["status"] != 407.0 || ev["user"] != "" {
			t.Fatalf("access event %v", ev)
		}
	})
	t.Run("407 for a wrong password", func(t *testing.T) {
		out, _, _ := aclCurl(t, "-x", proxyURL, "--proxy-user", "alice:nope", "-D", "-", "-o", "/dev/null", target)
		if !strings.HasPrefix(out, "HTTP/1.1 407") {
			t.Fatalf("response head:\n%s", out)
		}
		p.access(t, "/path")
	})
	t.Run("CONNECT 407 for a wrong password", func(t *testing.T) {
		_, errs, code := aclCurl(t, "-p", "-x", proxyURL, "--proxy-user", "alice:nope", target)
		if code == 0 || !strings.Contains(errs, "407") {
			t.Fatalf("curl -p exit %d: %s", code, errs)
		}
		p.access(t, "127.0.0.1:"+origin.port)
	})
	t.Run("user outside the group is denied", func(t *testing.T) {
		out, _, _ := aclCurl(t, "-x", proxyURL, "--proxy-user", "mallory:m-pass", "-D", "-", target)
		if !strings.HasPrefix(out, "HTTP/1.1 403") || !strings.Contains(out, "Proxy-Status: ferry; error=destination_ip_prohibited") ||
			!strings.Contains(out, `denied by rule "deny-internal-destinations"`) {
			t.Fatalf("response:\n%s", out)
		}
		if ev := p.access(t, "/path"); ev["user"] != "mallory" || ev["decision"] != "deny" || ev["rule"] != "deny-internal-destinations" {
			t.Fatalf("access event %v", ev)
		}
	})
	t.Run("block list: text page for curl", func(t *testing.T) {
		out, _, _ := aclCurl(t, "-x", proxyURL, "--proxy-user", "alice:secret", "-D", "-", "http://www.blocked.test/")
		if !strings.HasPrefix(out, "HTTP/1.1 403") || !strings.Contains(out, "Proxy-Status: ferry; error=http_request_denied") ||
			!strings.Contains(out, "Content-Type: text/plain") || !strings.Contains(out, `denied by rule "blocklist"`) {
			t.Fatalf("response:\n%s", out)
		}
		if ev := p.access(t, "www.blocked.test"); ev["rule"] != "blocklist" || ev["decision"] != "deny" || ev["dialed"] != "" {
			t.Fatalf("access event %v", ev)
		}
	})
	t.Run("block list: HTML page for browsers", func(t *testing.T) {
		out, _, _ := aclCurl(t, "-x", proxyURL, "--proxy-user", "alice:secret", "-D", "-", "-H", "Accept: text/html,*/*;q=0.8", "http://ads.test/x")
		if !strings.HasPrefix(out, "HTTP/1.1 403") || !strings.Contains(out, "Content-Type: text/html") ||
			!strings.Contains(out, "<code>blocklist</code>") {
			t.Fatalf("response:\n%s", out)
		}
		p.access(t, "ads.test")
	})
	t.Run("Go client with credentials in the proxy URL", func(t *testing.T) {
		u, _ := url.Parse("http://alice:secret@" + p.addr)
		c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(u)}, Timeout: 10 * time.Second}
		resp, err := c.Get(target)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "hello from origin\n" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		p.access(t, "/path")
	})
}

func TestACLSOCKSAuth(t *testing.T) {
	origin := newACLOrigin(t)
	echo := aclEcho(t)
	_, echoPort, _ := net.SplitHostPort(echo)
	p := aclStart(t, "-config", authConfig(t, origin.port, echoPort))

	t.Run("curl socks5h with user:pass", func(t *testing.T) {
		out, errs, code := aclCurl(t, "-x", "socks5h://alice:secret@"+p.addr, origin.URL+"/s")
		if code != 0 || out != "hello from origin\n" {
			t.Fatalf("curl exit %d: %q %s", code, out, errs)
		}
		if ev := p.access(t, "127.0.0.1:"+origin.port); ev["proto"] != "socks5" || ev["user"] != "alice" || ev["decision"] != "allow" {
			t.Fatalf("access event %v", ev)
		}
	})
	t.Run("curl socks5h wrong password fails", func(t *testing.T) {
		_, errs, code := aclCurl(t, "-x", "socks5h://alice:bad@"+p.addr, origin.URL+"/s")
		if code == 0 {
			t.Fatalf("curl succeeded with a wrong password: %s", errs)
		}
		if ev := p.access(t, ""); ev["method"] != "AUTH" || ev["status"] != 1.0 {
			t.Fatalf("access event %v", ev)
		}
	})
	t.Run("x/net/proxy echo through the tunnel", func(t *testing.T) {
		d, _ := proxy.SOCKS5("tcp", p.addr, &proxy.Auth{User: "alice", Password: "secret"}, proxy.Direct)
		c, err := d.(proxy.ContextDialer).DialContext(context.Background(), "tcp", echo)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "ping\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil || line != "ping\n" {
			t.Fatalf("echo %q, %v", line, err)
		}
		p.access(t, echo)
	})
	t.Run("raw: wrong password gets status 0x01 and a close", func(t *testing.T) {
		c := aclDial(t, p.addr)
		c.Write([]byte{5, 1, 2})
		aclExpect(t, c, []byte{5, 2})
		c.Write(append(append([]byte{1, 5}, "alice"...), append([]byte{3}, "bad"...)...))
		aclExpect(t, c, []byte{1, 1})
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("after the failure: %d bytes, %v; want EOF", n, err)
		}
		p.access(t, "")
	})
	t.Run("raw: no-auth only gets 0xFF", func(t *testing.T) {
		c := aclDial(t, p.addr)
		c.Write([]byte{5, 1, 0})
		aclExpect(t, c, []byte{5, 0xFF})
	})
	t.Run("raw: denied target gets 0x02", func(t *testing.T) {
		c := aclDial(t, p.addr)
		c.Write([]byte{5, 1, 2})
		aclExpect(t, c, []byte{5, 2})
		c.Write(append(append([]byte{1, 5}, "alice"...), append([]byte{6}, "secret"...)...))
		aclExpect(t, c, []byte{1, 0})
		name := "tracker.blocked.test"
		c.Write(append(append([]byte{5, 1, 0, 3, byte(len(name))}, name...), 0, 80))
		aclExpect(t, c, []byte{5, 0x02})
		if ev := p.access(t, name); ev["rule"] != "blocklist" || ev["decision"] != "deny" || ev["status"] != 2.0 {
			t.Fatalf("access event %v", ev)
		}
	})
	t.Run("raw: socks4 with user:password, and 0x5B when denied", func(t *testing.T) {
		port, _ := strconv.Atoi(echoPort)
		req := func(userID string, ip [4]byte, port int) []byte {
			b := []byte{4, 1, byte(port >> 8), byte(port)}
			return append(append(append(b, ip[:]...), userID...), 0)
		}
		c := aclDial(t, p.addr)
		c.Write(req("alice:secret", [4]byte{127, 0, 0, 1}, port))
		aclExpect(t, c, []byte{0, 90})
		c.Close()
		p.access(t, echo)
		c = aclDial(t, p.addr)
		c.Write(req("alice:secret", [4]byte{10, 0, 0, 1}, 80))
		aclExpect(t, c, []byte{0, 0x5B})
		p.access(t, "10.0.0.1")
		c = aclDial(t, p.addr)
		c.Write(req("alice", [4]byte{127, 0, 0, 1}, port))
		aclExpect(t, c, []byte{0, 93})
	})
}

// TestACLDefaultRulesDenyLocalhost runs the embedded default config (the
// example's rules): a name that resolves to loopback is denied on the
// address, whatever the client, even though the name itself is allowed.
func TestACLDefaultRulesDenyLocalhost(t *testing.T) {
	origin := newACLOrigin(t)
	p := aclStart(t, "-listen", "127.0.0.1:0")
	target := "http://localhost:" + origin.port + "/"
	out, _, _ := aclCurl(t, "-x", "http://"+p.addr, "-D", "-", target)
	if !strings.HasPrefix(out, "HTTP/1.1 403") || !strings.Contains(out, "Proxy-Status: ferry; error=destination_ip_prohibited") ||
		!strings.Contains(out, `rule "deny-internal-destinations"`) {
		t.Fatalf("response:\n%s", out)
	}
	if ev := p.access(t, "localhost"); ev["rule"] != "deny-internal-destinations" || ev["decision"] != "deny" {
		t.Fatalf("access event %v", ev)
	}
	_, errs, code := aclCurl(t, "-x", "socks5h://"+p.addr, target)
	if code == 0 {
		t.Fatalf("socks5h to localhost succeeded")
	}
	if ev := p.access(t, "localhost"); ev["status"] != 2.0 || ev["rule"] != "deny-internal-destinations" {
		t.Fatalf("access event %v (curl: %s)", ev, errs)
	}
	// An IPv4-mapped IPv6 literal is the IPv4 address to the rules.
	c := aclDial(t, p.addr)
	fmt.Fprintf(c, "CONNECT [::ffff:127.0.0.1]:%s HTTP/1.1\r\nHost: x\r\n\r\n", origin.port)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("Proxy-Status"), "destination_ip_prohibited") {
		t.Fatalf("mapped literal: %v %v", resp, err)
	}
}

func TestACLOpenProxyRefused(t *testing.T) {
	cfg := aclWriteConfig(t, "[[listener]]\naddress = \"0.0.0.0:0\"\n\n[acl]\ndefault = \"allow\"\n", nil)
	p := aclRun(t, "-config", cfg)
	<-p.done
	if code := p.cmd.ProcessState.ExitCode(); code != 2 {
		t.Fatalf("exit code %d, want 2 (config refused)", code)
	}
	var text []string
	for ev := range p.lines {
		text = append(text, fmt.Sprint(ev["text"]))
	}
	all := strings.Join(text, "\n")
	if !strings.Contains(all, "open proxy") || !strings.Contains(all, "allow_open_proxy = true") || !strings.Contains(all, "auth = true") {
		t.Fatalf("stderr does not say why and how to opt in:\n%s", all)
	}
}

// TestACLReload: SIGHUP swaps the rules for the next request while a
// tunnel opened before keeps working; a bad config is refused and the old
// rules stay.
func TestACLReload(t *testing.T) {
	echo := aclEcho(t)
	_, echoPort, _ := net.SplitHostPort(echo)
	rules := func(action string) string {
		return fmt.Sprintf("[[listener]]\naddress = \"127.0.0.1:0\"\n\n[acl]\ndefault = \"deny\"\n\n"+
			"[[acl.rule]]\nname = \"echo-%s\"\naction = %q\nip = \"127.0.0.1\"\nport = %s\n", action, action, echoPort)
	}
	cfg := aclWriteConfig(t, rules("allow"), nil)
	p := aclStart(t, "-config", cfg)

	connect := func() (net.Conn, *bufio.Reader, int) {
		c := aclDial(t, p.addr)
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", echo, echo)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c, br, resp.StatusCode
	}
	roundTrip := func(c net.Conn, br *bufio.Reader, msg string) {
		t.Helper()
		io.WriteString(c, msg+"\n")
		if line, err := br.ReadString('\n'); err != nil || line != msg+"\n" {
			t.Fatalf("echo %q, %v", line, err)
		}
	}
	old, oldR, status := connect()
	if status != 200 {
		t.Fatalf("CONNECT before reload: %d", status)
	}
	roundTrip(old, oldR, "before")

	if err := os.WriteFile(cfg, []byte(rules("deny")), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitFor(t, 10*time.Second, func(e map[string]any) bool { return e["message"] == "reload" && e["ok"] == true })
	if _, _, status := connect(); status != 403 {
		t.Fatalf("CONNECT after reload: %d, want 403", status)
	}
	if ev := p.access(t, echo); ev["rule"] != "echo-deny" {
		t.Fatalf("access event %v", ev)
	}
	roundTrip(old, oldR, "after") // the open tunnel is not cut

	if err := os.WriteFile(cfg, []byte(rules("allow")+"port = \"x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	ev := p.waitFor(t, 10*time.Second, func(e map[string]any) bool { return e["message"] == "reload" })
	if ev["ok"] != false || !strings.Contains(fmt.Sprint(ev["err"]), "ferry.toml") {
		t.Fatalf("bad config reload: %v", ev)
	}
	if _, _, status := connect(); status != 403 {
		t.Fatalf("CONNECT after a refused reload: %d, want the old rules' 403", status)
	}
	roundTrip(old, oldR, "still")
}

func TestACLExplain(t *testing.T) {
	origin := newACLOrigin(t)
	cfg := authConfig(t, origin.port, "9")
	bin := aclBinary(t)
	run := func(args ...string) (string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"explain", "-config", cfg}, args...)...)
		out, _ := cmd.Output()
		return string(out), cmd.ProcessState.ExitCode()
	}
	out, code := run("-user", "alice", origin.URL+"/")
	if code != 0 || !strings.Contains(out, `ALLOWED by rule "staff-to-test-origins"`) || !strings.Contains(out, "staff-to-test-origins (allow): match") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	// A name: the walk stops where a rule needs the address, then each
	// resolved address is walked.
	out, code = run("-user", "alice", "http://localhost:"+origin.port+"/")
	if code != 0 || !strings.Contains(out, `needs the address`) || !strings.Contains(out, "resolved localhost: ") ||
		!strings.Contains(out, "ALLOWED: ferry would dial 127.0.0.1") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	out, code = run(origin.URL + "/")
	if code != 1 || !strings.Contains(out, `DENIED by rule "deny-internal-destinations"`) {
		t.Fatalf("anonymous: exit %d:\n%s", code, out)
	}
	out, code = run("-no-dns", "ads.test:443")
	if code != 1 || !strings.Contains(out, `DENIED by rule "blocklist"`) {
		t.Fatalf("block list: exit %d:\n%s", code, out)
	}
}

func aclDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

func aclExpect(t *testing.T, c net.Conn, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != string(want) {
		t.Fatalf("read % x, %v; want % x", got, err, want)
	}
}
