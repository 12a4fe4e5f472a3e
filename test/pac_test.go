package test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pacEnv is what a browser gives a PAC file: the Netscape helper
// functions, written from their definitions, with DNS answered from a
// fixed table. It prints FindProxyForURL for each [url, host] on stdin.
const pacEnv = `
const vm = require("vm"), fs = require("fs");
const dns = {"wiki.corp.internal": "10.1.1.1"};
function ip4(s) {
	const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
	return m ? (((+m[1] << 24) | (+m[2] << 16) | (+m[3] << 8) | +m[4]) >>> 0) : null;
}
const env = {
	isPlainHostName: (h) => h.indexOf(".") < 0,
	dnsDomainIs: (h, d) => h.length >= d.length && h.substring(h.length - d.length) === d,
	shExpMatch: (s, p) => new RegExp("^" + p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$").test(s),
	dnsResolve: (h) => dns[h] || null,
	isInNet: (h, pat, mask) => {
		let a = ip4(h);
		if (a === null) { const r = env.dnsResolve(h); if (!r) return false; a = ip4(r); }
		return ((a & ip4(mask)) >>> 0) === ((ip4(pat) & ip4(mask)) >>> 0);
	},
	myIpAddress: () => "127.0.0.1",
};
const ctx = vm.createContext(env);
vm.runInContext(fs.readFileSync(process.argv[2], "utf8"), ctx, {timeout: 2000});
const cases = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(cases.map((c) => ctx.FindProxyForURL(c[0], c[1]))));
`

// findProxy runs FindProxyForURL of pac in node for each [url, host];
// it skips the test when node is not installed.
func findProxy(t *testing.T, pac string, cases [][2]string) []string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: the PAC file is not evaluated")
	}
	dir := t.TempDir()
	pacPath, envPath := filepath.Join(dir, "proxy.pac"), filepath.Join(dir, "env.js")
	os.WriteFile(pacPath, []byte(pac), 0o600)
	os.WriteFile(envPath, []byte(pacEnv), 0o600)
	in, _ := json.Marshal(cases)
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, envPath, pacPath)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v: %s\nPAC:\n%s", err, stderr.String(), pac)
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(cases) {
		t.Fatalf("node printed %q: %v", out, err)
	}
	return got
}

// TestPAC: the binary serves a PAC generated from its config on the proxy
// port and the admin listener; evaluated as a browser would, it sends the
// listed bypasses DIRECT and the rest to ferry's own address; a reload
// changes it.
func TestPAC(t *testing.T) {
	f, admin := startOps(t, opsConfig+`
[pac]
direct = [".corp.example", "10.0.0.0/8", "localhost", "*.lab.example"]
`)
	proxied := "PROXY " + f.Addr + "; SOCKS5 " + f.Addr
	code, h, pac := adminGet(t, f.Addr, "/proxy.pac")
	if code != 200 || h.Get("Content-Type") != "application/x-ns-proxy-autoconfig" {
		t.Fatalf("proxy port /proxy.pac: %d %q", code, h.Get("Content-Type"))
	}
	if _, _, fromAdmin := adminGet(t, admin, "/proxy.pac"); fromAdmin != pac {
		t.Errorf("the admin listener serves another PAC:\n%s\nvs\n%s", fromAdmin, pac)
	}
	tests := []struct{ url, host, want string }{
		{"https://www.example.com/", "www.example.com", proxied},
		{"https://corp.example/", "corp.example", "DIRECT"},
		{"https://git.corp.example/x", "git.corp.example", "DIRECT"},
		{"https://corp.example.net/", "corp.example.net", proxied},
		{"http://10.20.30.40/", "10.20.30.40", "DIRECT"},
		{"http://172.16.0.1/", "172.16.0.1", proxied},
		{"http://localhost:3000/", "localhost", "DIRECT"},
		{"http://build7.lab.example/", "build7.lab.example", "DIRECT"},
		{"http://intranet/", "intranet", "DIRECT"},
		{"http://wiki.corp.internal/", "wiki.corp.internal", proxied}, // resolve_names is off
	}
	cases := make([][2]string, len(tests))
	for i, tt := range tests {
		cases[i] = [2]string{tt.url, tt.host}
	}
	got := findProxy(t, pac, cases)
	for i, tt := range tests {
		if got[i] != tt.want {
			t.Errorf("FindProxyForURL(%q) = %q, want %q", tt.url, got[i], tt.want)
		}
	}
	ev := f.WaitEvent("access", func(e Event) bool { return e.Str("url") == "/proxy.pac" })
	if ev.Int("status") != 200 || ev.Int("bytes_down") != int64(len(pac)) {
		t.Errorf("access event %v, want status 200 and %d bytes", ev, len(pac))
	}

	// A reload regenerates it.
	if ev := f.Reload(opsConfig + "\n[pac]\ndirect = [\".other.example\"]\nplain_hosts_direct = false\n"); ev["ok"] != true {
		t.Fatalf("reload %v", ev)
	}
	// The PAC is swapped just after the reload event is logged.
	if !waitUntil(eventTimeout, func() bool {
		_, _, pac = adminGet(t, f.Addr, "/proxy.pac")
		return strings.Contains(pac, "other.example")
	}) {
		t.Fatalf("the PAC did not change on reload:\n%s", pac)
	}
	got = findProxy(t, pac, [][2]string{{"https://corp.example/", "corp.example"}, {"https://a.other.example/", "a.other.example"}, {"http://intranet/", "intranet"}})
	if want := []string{proxied, "DIRECT", proxied}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("after the reload: %q, want %q", got, want)
	}
	if code, _, _ := adminGet(t, f.Addr, "/proxy.pac"); code != http.StatusOK {
		t.Errorf("status %d", code)
	}
}
