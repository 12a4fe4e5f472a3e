package pac

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// pacShim is the PAC environment a browser provides (the Netscape
// helpers), written from their definitions, with a fixed DNS table so
// tests never resolve anything. It runs FindProxyForURL for each case read
// from stdin and prints the results as JSON.
const pacShim = `
const vm = require("vm");
const fs = require("fs");
const dns = {"wiki.internal.example": "10.9.9.9", "mail.example.com": "192.0.2.25"};
const resolved = [];
function ip4(s) {
	const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
	if (!m) return null;
	return ((+m[1] << 24) | (+m[2] << 16) | (+m[3] << 8) | +m[4]) >>> 0;
}
const env = {
	isPlainHostName: (h) => h.indexOf(".") < 0,
	dnsDomainIs: (h, d) => h.length >= d.length && h.substring(h.length - d.length) === d,
	shExpMatch: (s, p) => new RegExp("^" + p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$").test(s),
	dnsResolve: (h) => { resolved.push(h); return dns[h] || null; },
	isInNet: (h, pat, mask) => {
		let a = ip4(h);
		if (a === null) { const r = env.dnsResolve(h); if (!r) return false; a = ip4(r); }
		const p = ip4(pat), m = ip4(mask);
		return ((a & m) >>> 0) === ((p & m) >>> 0);
	},
	myIpAddress: () => "127.0.0.1",
};
const ctx = vm.createContext(env);
vm.runInContext(fs.readFileSync(process.argv[2], "utf8"), ctx, {timeout: 2000});
const cases = JSON.parse(fs.readFileSync(0, "utf8"));
const out = cases.map((c) => ({result: ctx.FindProxyForURL(c.url, c.host)}));
process.stdout.write(JSON.stringify({results: out, resolved: resolved}));
`

// pacCase is one FindProxyForURL call.
type pacCase struct {
	URL  string `json:"url"`
	Host string `json:"host"`
	Want string `json:"-"`
}

// evalPAC runs FindProxyForURL of src in node for each case; it skips the
// test when node is not installed. It returns the results and the names
// the PAC asked DNS for.
func evalPAC(t testing.TB, src []byte, cases []pacCase) ([]string, []string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: the PAC file is not evaluated")
	}
	dir := t.TempDir()
	pacPath, shimPath := filepath.Join(dir, "proxy.pac"), filepath.Join(dir, "shim.js")
	if err := os.WriteFile(pacPath, src, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shimPath, []byte(pacShim), 0o600); err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(cases)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, shimPath, pacPath)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s\nPAC:\n%s", err, stderr.String(), src)
	}
	var res struct {
		Results  []struct{ Result string }
		Resolved []string
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Results) != len(cases) {
		t.Fatalf("node output %q: %v", out, err)
	}
	got := make([]string, len(cases))
	for i, r := range res.Results {
		got[i] = r.Result
	}
	return got, res.Resolved
}

func boolp(b bool) *bool { return &b }

var corpDirect = []string{".corp.example", "*.build.example", "10.0.0.0/8", "192.168.1.0/24",
	"localhost", "Intranet", "192.0.2.1", "::1"}

// The generated file, run as a browser runs it, sends the listed
// destinations DIRECT and everything else to ferry.
func TestPACEvaluation(t *testing.T) {
	const proxied = "PROXY proxy.example:3128; SOCKS5 proxy.example:3128"
	tests := []struct {
		name     string
		cfg      Config
		protocol string
		cases    []pacCase
		resolved []string // names the PAC may resolve, in order
	}{
		{"defaults", Config{Direct: corpDirect, ProxyAddress: "proxy.example:3128"}, "auto", []pacCase{
			{"https://www.example.com/", "www.example.com", proxied},
			{"https://corp.example/", "corp.example", "DIRECT"},
			{"http://a.b.corp.example/x", "a.b.corp.example", "DIRECT"},
			{"http://CORP.EXAMPLE/", "CORP.EXAMPLE", "DIRECT"},
			{"http://notcorp.example/", "notcorp.example", proxied},
			{"http://corp.example.evil.test/", "corp.example.evil.test", proxied},
			{"http://x.build.example/", "x.build.example", "DIRECT"},
			{"http://build.example/", "build.example", proxied},
			{"http://10.1.2.3/", "10.1.2.3", "DIRECT"},
			{"http://11.0.0.1/", "11.0.0.1", proxied},
			{"http://192.168.1.77/", "192.168.1.77", "DIRECT"},
			{"http://192.168.2.1/", "192.168.2.1", proxied},
			{"http://192.0.2.1/", "192.0.2.1", "DIRECT"},
			{"http://192.0.2.2/", "192.0.2.2", proxied},
			{"http://intranet/", "intranet", "DIRECT"},
			{"http://printer/", "printer", "DIRECT"},
			{"http://localhost:8080/", "localhost", "DIRECT"},
			{"http://[::1]:8080/", "::1", "DIRECT"},
			{"http://[::1]:8080/", "[::1]", "DIRECT"},
			{"http://[2001:db8::1]/", "2001:db8::1", proxied},
			{"http://wiki.internal.example/", "wiki.internal.example", proxied},
		}, nil},
		{"plain names proxied", Config{Direct: []string{"localhost"}, ProxyAddress: "proxy.example:3128", PlainHostsDirect: boolp(false)}, "auto", []pacCase{
			{"http://printer/", "printer", proxied},
			{"http://localhost/", "localhost", "DIRECT"},
			{"http://www.example.com/", "www.example.com", proxied},
		}, nil},
		{"resolve names", Config{Direct: []string{"10.0.0.0/8"}, ProxyAddress: "proxy.example:3128", ResolveNames: true}, "auto", []pacCase{
			{"http://wiki.internal.example/", "wiki.internal.example", "DIRECT"},
			{"http://mail.example.com/", "mail.example.com", proxied},
			{"http://10.0.0.1/", "10.0.0.1", "DIRECT"},
			{"http://[2001:db8::1]/", "2001:db8::1", proxied},
		}, []string{"wiki.internal.example", "mail.example.com"}},
		{"http listener", Config{ProxyAddress: "proxy.example:3128"}, "http", []pacCase{
			{"http://www.example.com/", "www.example.com", "PROXY proxy.example:3128"},
		}, nil},
		{"socks listener", Config{ProxyAddress: "[2001:db8::5]:1080"}, "socks", []pacCase{
			{"http://www.example.com/", "www.example.com", "SOCKS5 [2001:db8::5]:1080; SOCKS [2001:db8::5]:1080"},
		}, nil},
		{"nothing listed", Config{ProxyAddress: "proxy.example:3128", PlainHostsDirect: boolp(false)}, "auto", []pacCase{
			{"http://printer/", "printer", proxied},
			{"http://10.0.0.1/", "10.0.0.1", proxied},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.cfg, "127.0.0.1:8080", tt.protocol)
			if err != nil {
				t.Fatal(err)
			}
			proxy, err := p.ProxyAddress("ignored:1")
			if err != nil {
				t.Fatal(err)
			}
			src := p.Generate(proxy)
			got, resolved := evalPAC(t, src, tt.cases)
			for i, c := range tt.cases {
				if got[i] != c.Want {
					t.Errorf("FindProxyForURL(%q, %q) = %q, want %q", c.URL, c.Host, got[i], c.Want)
				}
			}
			if len(resolved) != len(tt.resolved) {
				t.Errorf("the PAC resolved %q, want %q", resolved, tt.resolved)
			}
			if t.Failed() {
				t.Logf("PAC:\n%s", src)
			}
		})
	}
}
