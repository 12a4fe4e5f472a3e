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
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
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
	list := filepath.Join(t.TempDir(), "blocked.txt")
	if err := os.WriteFile(list, []byte("# test list\n||blocked.test^\n0.0.0.0 ads.test\nnot a rule line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`
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
domain_list = %q

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
`, bcryptOf(t, "secret"), bcryptOf(t, "m-pass"), list, originPort, echoPort)
}

// accessOf waits for the access event whose target or url contains s and
// that match (nil: any) accepts.
func accessOf(f *Ferry, s string, match func(Event) bool) Event {
	f.t.Helper()
	return f.WaitEvent("access", func(e Event) bool {
		return (strings.Contains(e.Str("target"), s) || strings.Contains(e.Str("url"), s)) && (match == nil || match(e))
	})
}

func TestACLHTTPAuthAllowDeny(t *testing.T) {
	origin := newACLOrigin(t)
	_, echoPort, _ := net.SplitHostPort(echoOrigin(t))
	f := startFerry(t, authConfig(t, origin.port, echoPort))
	proxyURL := "http://" + f.Addr
	hostport := "127.0.0.1:" + origin.port

	t.Run("allowed with credentials", func(t *testing.T) {
		out, errs, code := runCurl(t, "-x", proxyURL, "--proxy-user", "alice:secret", origin.URL+"/allowed")
		if code != 0 || out != "hello from origin\n" {
			t.Fatalf("curl exit %d: %q %s", code, out, errs)
		}
		ev := accessOf(f, "/allowed", nil)
		if ev.Str("user") != "alice" || ev.Str("rule") != "staff-to-test-origins" || ev.Str("decision") != "allow" || ev.Int("status") != 200 {
			t.Fatalf("access event %v", ev)
		}
		if origin.leaked.Load() != 0 {
			t.Fatal("Proxy-Authorization reached the origin")
		}
	})
	t.Run("tunnel with credentials", func(t *testing.T) {
		out, errs, code := runCurl(t, "-p", "-x", proxyURL, "--proxy-user", "alice:secret", origin.URL+"/tunnel")
		if code != 0 || out != "hello from origin\n" {
			t.Fatalf("curl -p exit %d: %q %s", code, out, errs)
		}
		ev := accessOf(f, hostport, func(e Event) bool { return e.Str("proto") == "connect" && e.Int("status") == 200 })
		if ev.Str("rule") != "staff-to-test-origins" || ev.Str("user") != "alice" {
			t.Fatalf("access event %v", ev)
		}
	})
	t.Run("407 without credentials", func(t *testing.T) {
		out, _, _ := runCurl(t, "-x", proxyURL, "-D", "-", "-o", "/dev/null", origin.URL+"/anonymous")
		if !strings.HasPrefix(out, "HTTP/1.1 407") || !strings.Contains(out, `Proxy-Authenticate: Basic realm="ferry"`) {
			t.Fatalf("response head:\n%s", out)
		}
		if ev := accessOf(f, "/anonymous", nil); ev.Int("status") != 407 || ev.Str("user") != "" {
			t.Fatalf("access event %v", ev)
		}
	})
	t.Run("407 for a wrong password", func(t *testing.T) {
		out, _, _ := runCurl(t, "-x", proxyURL, "--proxy-user", "alice:nope", "-D", "-", "-o", "/dev/null", origin.URL+"/wrong")
		if !strings.HasPrefix(out, "HTTP/1.1 407") {
			t.Fatalf("response head:\n%s", out)
		}
		if ev := accessOf(f, "/wrong", nil); ev.Int("status") != 407 || ev.Str("user") != "" {
			t.Fatalf("access event %v", ev)
		}
	})
	t.Run("CONNECT 407 for a wrong password", func(t *testing.T) {
		_, errs, code := runCurl(t, "-p", "-x", proxyURL, "--proxy-user", "alice:nope", origin.URL+"/")
		if code == 0 || !strings.Contains(errs, "407") {
			t.Fatalf("curl -p exit %d: %s", code, errs)
		}
		accessOf(f, hostport, func(e Event) bool { return e.Str("proto") == "connect" && e.Int("status") == 407 })
	})
	t.Run("user outside the group is denied", func(t *testing.T) {
		out, _, _ := runCurl(t, "-x", proxyURL, "--proxy-user", "mallory:m-pass", "-D", "-", origin.URL+"/mallory")
		if !strings.HasPrefix(out, "HTTP/1.1 403") || !strings.Contains(out, "Proxy-Status: ferry; error=destination_ip_prohibited") ||
			!strings.Contains(out, `denied by rule "deny-internal-destinations"`) {
			t.Fatalf("response:\n%s", out)
		}
		ev := accessOf(f, "/mallory", nil)
		if ev.Str("user") != "mallory" || ev.Str("decision") != "deny" || ev.Str("rule") != "deny-internal-destinations" || ev.Int("status") != 403 {
			t.Fatalf("access event %v", ev)
		}
	})
	t.Run("block list: text page for curl", func(t *testing.T) {
		out, _, _ := runCurl(t, "-x", proxyURL, "--proxy-user", "alice:secret", "-D", "-", "http://www.blocked.test/")
		if !strings.HasPrefix(out, "HTTP/1.1 403") || !strings.Contains(out, "Proxy-Status: ferry; error=http_request_denied") ||
			!strings.Contains(out, "Content-Type: text/plain") || !strings.Contains(out, `denied by rule "blocklist"`) {
			t.Fatalf("response:\n%s", out)
		}
		if ev := accessOf(f, "www.blocked.test", nil); ev.Str("rule") != "blocklist" || ev.Str("decision") != "deny" || ev.Str("dialed") != "" {
			t.Fatalf("access event %v", ev)
		}
	})
	t.Run("block list: HTML page for browsers", func(t *testing.T) {
		out, _, _ := runCurl(t, "-x", proxyURL, "--proxy-user", "alice:secret", "-D", "-", "-H", "Accept: text/html,*/*;q=0.8", "http://ads.test/x")
		if !strings.HasPrefix(out, "HTTP/1.1 403") || !strings.Contains(out, "Content-Type: text/html") ||
			!strings.Contains(out, "<code>blocklist</code>") {
			t.Fatalf("response:\n%s", out)
		}
		accessOf(f, "ads.test", nil)
	})
	t.Run("Go client with credentials in the proxy URL", func(t *testing.T) {
		u, _ := url.Parse("http://alice:secret@" + f.Addr)
		tr := &http.Transport{Proxy: http.ProxyURL(u)}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: ioTimeout}
		resp, err := c.Get(origin.URL + "/go")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "hello from origin\n" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		if ev := accessOf(f, "/go", nil); ev.Str("user") != "alice" {
			t.Fatalf("access event %v", ev)
		}
	})
	t.Run("the list load is logged with its skipped lines", func(t *testing.T) {
		ev := f.WaitEvent("domain list", nil)
		if ev.Int("entries") != 2 || ev.Int("skipped") != 1 || ev.Int("first_skipped_line") != 4 {
			t.Fatalf("list event %v", ev)
		}
	})
}

func TestACLSOCKSAuth(t *testing.T) {
	origin := newACLOrigin(t)
	echo := echoOrigin(t)
	_, echoPort, _ := net.SplitHostPort(echo)
	f := startFerry(t, authConfig(t, origin.port, echoPort))
	hostport := "127.0.0.1:" + origin.port

	t.Run("curl socks5h with user:pass", func(t *testing.T) {
		out, errs, code := runCurl(t, "-x", "socks5h://alice:secret@"+f.Addr, origin.URL+"/s")
		if code != 0 || out != "hello from origin\n" {
			t.Fatalf("curl exit %d: %q %s", code, out, errs)
		}
		ev := accessOf(f, hostport, func(e Event) bool { return e.Str("proto") == "socks5" })
		if ev.Str("user") != "alice" || ev.Str("decision") != "allow" || ev.Str("rule") != "staff-to-test-origins" {
			t.Fatalf("access event %v", ev)
		}
	})
	t.Run("curl socks5h wrong password fails", func(t *testing.T) {
		_, errs, code := runCurl(t, "-x", "socks5h://alice:bad@"+f.Addr, origin.URL+"/s")
		if code == 0 {
			t.Fatalf("curl succeeded with a wrong password: %s", errs)
		}
		ev := f.WaitEvent("access", func(e Event) bool { return e.Str("method") == "AUTH" })
		if ev.Int("status") != 1 || ev.Str("user") != "" || ev.Str("proto") != "socks5" {
			t.Fatalf("access event %v", ev)
		}
	})
	t.Run("x/net/proxy echo through the tunnel", func(t *testing.T) {
		d, _ := proxy.SOCKS5("tcp", f.Addr, &proxy.Auth{User: "alice", Password: "secret"}, proxy.Direct)
		c, err := d.(proxy.ContextDialer).DialContext(context.Background(), "tcp", echo)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(ioTimeout))
		io.WriteString(c, "ping\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil || line != "ping\n" {
			t.Fatalf("echo %q, %v", line, err)
		}
		accessOf(f, echo, func(e Event) bool { return e.Str("proto") == "socks5" && e.Str("user") == "alice" })
	})
	t.Run("raw: wrong password gets status 0x01 and a close", func(t *testing.T) {
		c := dial(t, f.Addr)
		c.Write([]byte{5, 1, 2})
		aclExpect(t, c, []byte{5, 2})
		c.Write(append(append([]byte{1, 5}, "alice"...), append([]byte{3}, "bad"...)...))
		aclExpect(t, c, []byte{1, 1})
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("after the failure: %d bytes, %v; want EOF", n, err)
		}
	})
	t.Run("raw: no-auth only gets 0xFF", func(t *testing.T) {
		c := dial(t, f.Addr)
		c.Write([]byte{5, 1, 0})
		aclExpect(t, c, []byte{5, 0xFF})
	})
	t.Run("raw: denied target gets 0x02", func(t *testing.T) {
		c := dial(t, f.Addr)
		c.Write([]byte{5, 1, 2})
		aclExpect(t, c, []byte{5, 2})
		c.Write(append(append([]byte{1, 5}, "alice"...), append([]byte{6}, "secret"...)...))
		aclExpect(t, c, []byte{1, 0})
		name := "tracker.blocked.test"
		c.Write(append(append([]byte{5, 1, 0, 3, byte(len(name))}, name...), 0, 80))
		aclExpect(t, c, []byte{5, 0x02})
		if ev := accessOf(f, name, nil); ev.Str("rule") != "blocklist" || ev.Str("decision") != "deny" || ev.Int("status") != 2 {
			t.Fatalf("access event %v", ev)
		}
	})
	t.Run("raw: socks4 with user:password, and 0x5B when denied", func(t *testing.T) {
		port, _ := strconv.Atoi(echoPort)
		req := func(userID string, ip [4]byte, port int) []byte {
			b := []byte{4, 1, byte(port >> 8), byte(port)}
			return append(append(append(b, ip[:]...), userID...), 0)
		}
		c := dial(t, f.Addr)
		c.Write(req("alice:secret", [4]byte{127, 0, 0, 1}, port))
		aclExpect(t, c, []byte{0, 90})
		c.Close()
		accessOf(f, echo, func(e Event) bool { return e.Str("proto") == "socks4" && e.Str("user") == "alice" })
		c = dial(t, f.Addr)
		c.Write(req("alice:secret", [4]byte{10, 0, 0, 1}, 80))
		aclExpect(t, c, []byte{0, 0x5B})
		if ev := accessOf(f, "10.0.0.1", nil); ev.Str("rule") != "deny-internal-destinations" || ev.Int("status") != 91 {
			t.Fatalf("access event %v", ev)
		}
		c = dial(t, f.Addr)
		c.Write(req("alice", [4]byte{127, 0, 0, 1}, port))
		aclExpect(t, c, []byte{0, 93})
	})
}

// TestACLDefaultRulesDenyLocalhost runs a config without an [acl] table,
// which gets the example's rules: a name that resolves to loopback is
// denied on the address, though the name itself is allowed.
func TestACLDefaultRulesDenyLocalhost(t *testing.T) {
	origin := newACLOrigin(t)
	f := startFerry(t, "[[listener]]\naddress = \"127.0.0.1:0\"\n")
	target := "http://localhost:" + origin.port + "/"
	out, _, _ := runCurl(t, "-x", "http://"+f.Addr, "-D", "-", target)
	if !strings.HasPrefix(out, "HTTP/1.1 403") || !strings.Contains(out, "Proxy-Status: ferry; error=destination_ip_prohibited") ||
		!strings.Contains(out, `rule "deny-internal-destinations"`) {
		t.Fatalf("response:\n%s", out)
	}
	ev := accessOf(f, "localhost", func(e Event) bool { return e.Str("proto") == "http" })
	if ev.Str("rule") != "deny-internal-destinations" || ev.Str("decision") != "deny" || ev.Str("dialed") != "" {
		t.Fatalf("access event %v", ev)
	}
	if _, _, code := runCurl(t, "-x", "socks5h://"+f.Addr, target); code == 0 {
		t.Fatalf("socks5h to localhost succeeded")
	}
	ev = accessOf(f, "localhost", func(e Event) bool { return e.Str("proto") == "socks5" })
	if ev.Int("status") != 2 || ev.Str("rule") != "deny-internal-destinations" {
		t.Fatalf("access event %v", ev)
	}
	// An IPv4-mapped IPv6 literal is its IPv4 address to the rules.
	status, head, _ := rawConnect(t, f.Addr, "[::ffff:127.0.0.1]:"+origin.port)
	if status != 403 || !strings.Contains(headerOf(head, "Proxy-Status"), "destination_ip_prohibited") {
		t.Fatalf("mapped literal: %d\n%s", status, head)
	}
	// CONNECT only to 443, with the example's rules.
	status, head, _ = rawConnect(t, f.Addr, "192.0.2.1:25")
	if status != 403 || !strings.Contains(head, "connect-https-only") {
		t.Fatalf("CONNECT to port 25: %d\n%s", status, head)
	}
	// By name, too: the address rule before it denies as well, so the
	// answer is deny whatever the name resolves to, given before any
	// lookup (.invalid never resolves: a lookup would answer 502).
	status, head, _ = rawConnect(t, f.Addr, "ferry-test.invalid:25")
	if status != 403 || !strings.Contains(head, "connect-https-only") {
		t.Fatalf("CONNECT to a name on port 25: %d\n%s", status, head)
	}
	ev = accessOf(f, "ferry-test.invalid", nil)
	if ev.Str("rule") != "connect-https-only" || ev.Str("proxy_status") == "dns_error" {
		t.Fatalf("access event %v", ev)
	}
}

// TestACLReadmeAllowLoopback: the README's way to let ferry reach this
// host (its toml block, taken from README.md) adds that rule in front of
// the default rules, which stay in force; ferry check prints them in
// order. A file with the rule alone is warned that the defaults are gone
// (#16 item 5: it lost them silently).
func TestACLReadmeAllowLoopback(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "put an allow rule\nin front of the defaults:\n\n```toml\n")
	block, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 || !strings.Contains(block, "allow-loopback") {
		t.Fatal("no allow-loopback toml block in README.md")
	}
	cfg := "[[listener]]\naddress = \"127.0.0.1:0\"\n\n" + block
	code, out, stderr := runFerry(t, "check", "-config", writeConfig(t, cfg))
	want := "first match wins: allow-loopback (allow), reverse-backends (allow), deny-internal-destinations (deny), " +
		"connect-https-only (deny), safe-ports-only (deny), udp-safe-ports-only (deny), allow-local-clients (allow), then the default: deny."
	if code != 0 || !strings.Contains(out, want) || strings.Contains(stderr, "warning") {
		t.Fatalf("ferry check: exit %d, stderr %q, stdout:\n%.400s\nwant %q", code, stderr, out, want)
	}
	origin := newACLOrigin(t)
	f := startFerry(t, cfg)
	if out, _, code := runCurl(t, "-x", "http://"+f.Addr, "http://127.0.0.1:"+origin.port+"/"); code != 0 || !strings.Contains(out, "hello from origin") {
		t.Fatalf("loopback origin: curl exit %d, %q", code, out)
	}
	if status, head, _ := rawConnect(t, f.Addr, "192.0.2.1:25"); status != 403 || !strings.Contains(head, "connect-https-only") {
		t.Fatalf("CONNECT to port 25: %d, want 403 by the default rule connect-https-only\n%s", status, head)
	}

	alone := strings.Replace(block, "default_rules = true\n", "", 1)
	code, _, stderr = runFerry(t, "check", "-q", "-config", writeConfig(t, "[[listener]]\naddress = \"127.0.0.1:0\"\n\n"+alone))
	if code != 0 || !strings.Contains(stderr, "warning: acl: the rules of this file replace the default rules") {
		t.Errorf("the rule alone: exit %d, stderr %q; want a warning that the defaults are gone", code, stderr)
	}
}

// TestACLOpenProxyInPieces: rules that let everyone through however they
// are written are refused as an open proxy, by ferry and ferry check
// (issue 20 item 11: the check read the rules' text).
func TestACLOpenProxyInPieces(t *testing.T) {
	tests := []struct{ name, rules, names string }{
		{"two halves", `
[[acl.rule]]
name = "low"
action = "allow"
client = "0.0.0.0/1"
[[acl.rule]]
name = "high"
action = "allow"
client = "128.0.0.0/1"
`, `rules low, high`},
		{"a deny that spares everyone", `
[acl]
default = "allow"
[[acl.rule]]
name = "outsiders"
action = "deny"
not.client = ["0.0.0.0/1", "128.0.0.0/1", "::/0"]
`, `acl.default = "allow"`},
		{"all of IPv6", `
[[acl.rule]]
name = "v6"
action = "allow"
client = "2000::/3"
`, `rule "v6"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, "[[listener]]\naddress = \"0.0.0.0:0\"\n"+tt.rules)
			for _, args := range [][]string{{"check", "-q", "-config", path}, {"-config", path}} {
				code, _, stderr := runFerry(t, args...)
				if code != 2 || !strings.Contains(stderr, "open proxy") || !strings.Contains(stderr, tt.names) {
					t.Errorf("ferry %s: exit %d, want 2 naming %s as an open proxy:\n%s", args[0], code, tt.names, stderr)
				}
			}
		})
	}
}

func TestACLOpenProxyRefused(t *testing.T) {
	path := writeConfig(t, "[[listener]]\naddress = \"0.0.0.0:0\"\n\n[acl]\ndefault = \"allow\"\n")
	code, _, stderr := runFerry(t, "-config", path)
	if code != 2 {
		t.Fatalf("exit status %d, want 2 (config refused)", code)
	}
	for _, want := range []string{path + ":2", "open proxy", "allow_open_proxy = true", "auth = true", `client = ["10.0.0.0/8"]`} {
		if !strings.Contains(stderr, want) {
			t.Fatalf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	// -listen off loopback with the same rules is refused too.
	code, _, stderr = runFerry(t, "-config", path, "-listen", "0.0.0.0:0")
	if code != 2 || !strings.Contains(stderr, "open proxy") {
		t.Fatalf("-listen 0.0.0.0:0: exit %d\n%s", code, stderr)
	}
}

// TestACLReload: SIGHUP swaps the rules for the next request while a
// tunnel opened before keeps working; a bad config is refused with the
// reason in the log and the old rules stay.
func TestACLReload(t *testing.T) {
	echo := echoOrigin(t)
	_, echoPort, _ := net.SplitHostPort(echo)
	rules := func(action string) string {
		return fmt.Sprintf("[[listener]]\naddress = \"127.0.0.1:0\"\n\n[acl]\ndefault = \"deny\"\n\n"+
			"[[acl.rule]]\nname = \"echo-%s\"\naction = %q\nip = \"127.0.0.1\"\nport = %s\n", action, action, echoPort)
	}
	f := startFerry(t, rules("allow"))
	old := connectTunnel(t, f.Addr, echo)
	echoRoundTrip(t, old, "before")

	if ev := f.Reload(rules("deny")); ev["ok"] != true {
		t.Fatalf("reload %v", ev)
	}
	if status, _, _ := rawConnect(t, f.Addr, echo); status != 403 {
		t.Fatalf("CONNECT after reload: %d, want 403", status)
	}
	accessOf(f, echo, func(e Event) bool { return e.Str("rule") == "echo-deny" && e.Int("status") == 403 })
	echoRoundTrip(t, old, "after") // the open tunnel is not cut

	ev := f.Reload(rules("allow") + "domain = \"a b\"\n")
	if ev["ok"] != false || !strings.Contains(ev.Str("err"), f.Config+":12") || !strings.Contains(ev.Str("err"), "domain") {
		t.Fatalf("bad config reload: %v", ev)
	}
	if status, _, _ := rawConnect(t, f.Addr, echo); status != 403 {
		t.Fatalf("CONNECT after a refused reload: %d, want the old rules' 403", status)
	}
	echoRoundTrip(t, old, "still")
}

func TestACLExplain(t *testing.T) {
	origin := newACLOrigin(t)
	cfg := writeConfig(t, authConfig(t, origin.port, "9"))
	run := func(args ...string) (string, int) {
		code, out, _ := runFerry(t, append([]string{"explain", "-config", cfg}, args...)...)
		return out, code
	}
	out, code := run("-user", "alice", origin.URL+"/")
	if code != 0 || !strings.Contains(out, `ALLOWED by rule "staff-to-test-origins"`) || !strings.Contains(out, "staff-to-test-origins (allow): match") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	// A name: the walk stops where a rule needs the address, then each
	// resolved address is walked.
	out, code = run("-user", "alice", "http://localhost:"+origin.port+"/")
	if code != 0 || !strings.Contains(out, "needs the address") || !strings.Contains(out, "resolved localhost: ") ||
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

func aclExpect(t *testing.T, c net.Conn, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != string(want) {
		t.Fatalf("read % x, %v; want % x", got, err, want)
	}
}

// TestExplainAgreesWithTheProxy: ferry explain's exit status is the
// proxy's answer to the same request, PURGE's method rule included (#16
// item 5: explain said ALLOWED for a PURGE the proxy answered 403).
func TestExplainAgreesWithTheProxy(t *testing.T) {
	origin := newACLOrigin(t)
	url := "http://127.0.0.1:" + origin.port + "/"
	base := `
[[listener]]
address = "127.0.0.1:0"
[cache]
enabled = true
[acl]
default_rules = true
%s
[[acl.rule]]
name = "allow-loopback"
action = "allow"
ip = "127.0.0.1"
port = ` + origin.port + "\n"
	purgers := "[[acl.rule]]\nname = \"purgers\"\naction = \"allow\"\nmethod = \"PURGE\"\nclient = \"127.0.0.1\"\n"
	tests := []struct {
		name, rules string
		curl        []string // the request, as curl arguments after -x
		explain     []string // the same, as ferry explain arguments
		status      int      // the proxy's answer
	}{
		{"GET", "", []string{url}, []string{url}, 200},
		{"PURGE without a rule for it", "", []string{"-X", "PURGE", url}, []string{"-method", "PURGE", url}, 403},
		{"PURGE with a rule for it", purgers, []string{"-X", "PURGE", url}, []string{"-method", "PURGE", url}, 404}, // allowed; nothing stored
		{"CONNECT to port 25", "", []string{"-p", "telnet://192.0.2.1:25"}, []string{"192.0.2.1:25"}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFerry(t, fmt.Sprintf(base, tt.rules))
			out, _, _ := runCurl(t, append([]string{"-s", "-o", "/dev/null", "-w", "%{http_code} %{http_connect}", "-m", "5", "-x", "http://" + f.Addr}, tt.curl...)...)
			var code, connectCode int
			fmt.Sscanf(out, "%d %d", &code, &connectCode)
			if connectCode != 0 {
				code = connectCode
			}
			if code != tt.status {
				t.Fatalf("the proxy answered %q, want %d", out, tt.status)
			}
			want := 0
			if tt.status == 403 || tt.status == 407 {
				want = 1
			}
			exit, stdout, stderr := runFerry(t, append([]string{"explain", "-config", f.Config}, tt.explain...)...)
			if exit != want {
				t.Errorf("explain exit %d, want %d (the proxy answered %d):\n%s", exit, want, tt.status, stdout)
			}
			if strings.Contains(stderr, "\x1b[") {
				t.Errorf("colour codes in explain's stderr, a pipe: %q", stderr)
			}
		})
	}
}

// TestExplainAttributes: -ip gives the addresses without DNS, -no-dns
// stops undecided with exit 3 (not 1: nothing denied it), -listener
// applies its auth.
func TestExplainAttributes(t *testing.T) {
	cfg := writeConfig(t, fmt.Sprintf(`
[[listener]]
name = "open"
address = "127.0.0.1:0"
[[listener]]
name = "secure"
address = "127.0.0.1:0"
auth = true
[[auth.user]]
name = "alice"
bcrypt = %q
`, bcryptOf(t, "pw")))
	viaUpstream := writeConfig(t, "[[upstream]]\nname = \"corp\"\nurl = \"http://192.0.2.99:3128\"\n[routing]\ndefault = \"corp\"\n")
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"a private address given", []string{"-ip", "10.0.0.5", "intranet.test:443"}, 1, `denied by rule "deny-internal-destinations"`},
		{"a public address given", []string{"-ip", "192.0.2.10", "intranet.test:443"}, 0, "ALLOWED: ferry would dial 192.0.2.10"},
		{"one of two denied, direct", []string{"-ip", "10.0.0.5", "-ip", "192.0.2.10", "intranet.test:443"}, 0, "would dial 192.0.2.10"},
		{"no DNS: undecided", []string{"-no-dns", "intranet.test:443"}, 3, "UNDECIDED"},
		{"decided by name without DNS", []string{"-no-dns", "intranet.test:25"}, 1, `DENIED by rule "connect-https-only"`},
		{"auth listener, anonymous", []string{"-listener", "secure", "-ip", "192.0.2.10", "intranet.test:443"}, 1, "requires auth"},
		{"auth listener, a user", []string{"-listener", "secure", "-user", "alice", "-ip", "192.0.2.10", "intranet.test:443"}, 0, "ALLOWED"},
		{"no such listener", []string{"-listener", "nope", "intranet.test:443"}, 2, ""},
		// Through an upstream every address of the name must be allowed:
		// the upstream may connect to any of them.
		{"one of two denied, through an upstream", []string{"-config", viaUpstream, "-ip", "10.0.0.5", "-ip", "192.0.2.10", "intranet.test:443"}, 1,
			"every one must be allowed"},
		{"all allowed, through an upstream", []string{"-config", viaUpstream, "-ip", "192.0.2.10", "intranet.test:443"}, 0, "ALLOWED: through corp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runFerry(t, append([]string{"explain", "-config", cfg}, tt.args...)...)
			if code != tt.code || !strings.Contains(out, tt.out) {
				t.Errorf("exit %d, want %d with %q:\n%s%s", code, tt.code, tt.out, out, stderr)
			}
		})
	}
}
