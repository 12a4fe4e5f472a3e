package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/ferry-proxy/ferry/tunnel"
)

// writePEM writes a self-signed certificate and its key as cert.pem and
// key.pem (the certificate also serves as a CA file) into dir.
func writePEM(t *testing.T, dir string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	os.WriteFile(filepath.Join(dir, "junk.pem"), []byte("not pem\n"), 0o600)
}

const chainOK = `
[[listener]]
address = "127.0.0.1:0"
tls = { cert = "cert.pem", key = "key.pem", client_ca = "cert.pem", cert_user = "cn" }

[[upstream]]
name = "corp"
url = "http://user:pass@proxy.corp.example:3128"
  [upstream.health]
  backoff = "1s"
  probe = "example.com:443"

[[upstream]]
name = "remote"
url = "https://remote.example:8443"
ca_file = "cert.pem"
cert = "cert.pem"
key = "key.pem"
via = "socks"

[[upstream]]
name = "socks"
url = "socks5h://127.0.0.1:1080"

[[upstream_group]]
name = "parents"
members = ["corp", "remote"]
policy = "round-robin"

[[route]]
name = "intranet"
upstream = "corp"
domain = [".corp.example"]
not.port = 22

[[route]]
upstream = "direct"
ip = ["10.0.0.0/8"]

[routing]
default = "parents"
`

func parseIn(t *testing.T, dir, src string) (*File, error) {
	t.Helper()
	path := filepath.Join(dir, "ferry.toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path)
}

func TestChainConfig(t *testing.T) {
	dir := t.TempDir()
	writePEM(t, dir)
	f, err := parseIn(t, dir, chainOK)
	if err != nil {
		t.Fatal(err)
	}
	h := f.Upstreams[0].Health
	if time.Duration(h.Backoff) != time.Second || time.Duration(h.MaxBackoff) != time.Minute || time.Duration(h.Interval) != 30*time.Second {
		t.Errorf("health defaults: %+v", h)
	}
	if f.Routes[1].Name != "route1" || f.Groups[0].Policy != "round-robin" || f.Listeners[0].TLS.CertUser != "cn" {
		t.Errorf("names and defaults: %+v %+v", f.Routes[1], f.Groups[0])
	}
	if len(f.Routes[0].Domain) != 1 || f.Routes[0].Not == nil || f.Routes[0].Not.Port[0] != "22" {
		t.Errorf("route matchers: %+v", f.Routes[0])
	}
}

func TestChainErrors(t *testing.T) {
	dir := t.TempDir()
	writePEM(t, dir)
	tests := []struct {
		name, in string
		want     []string // "line: key: message fragment"
	}{
		{"url", `
[[upstream]]
name = "a"
url = "ftp://h:1"
[[upstream]]
name = "b"
url = "http://noport"
[[upstream]]
name = "c"
`, []string{"4: upstream[0].url: scheme", "7: upstream[1].url: want http://host:port", "8: upstream[2].url: required"}},
		{"names", `
[[upstream]]
name = "direct"
url = "http://h:1"
[[upstream]]
name = "a b"
url = "http://h:1"
[[upstream_group]]
name = "g"
members = []
[[upstream_group]]
name = "g"
members = ["nope"]
policy = "random"
`, []string{"3: upstream[0].name: reserved", "6: upstream[1].name: want a name", "10: upstream_group[0].members: at least one",
			"12: upstream_group[1].name: already used", "13: upstream_group[1].members[0]: no [[upstream]]", "14: upstream_group[1].policy: must be"}},
		{"via loop", `
[[upstream]]
name = "a"
url = "http://h:1"
via = "b"
[[upstream]]
name = "b"
url = "http://h:2"
via = "a"
[[upstream]]
name = "c"
url = "http://h:3"
via = "zz"
`, []string{"5: upstream[0].via: loops: a → b → a", "9: upstream[1].via: loops: b → a → b", "13: upstream[2].via: no [[upstream]]"}},
		{"tls keys", `
[[upstream]]
name = "a"
url = "http://h:1"
ca_file = "cert.pem"
[[upstream]]
name = "b"
url = "https://h:1"
cert = "cert.pem"
ca_file = "junk.pem"
[[upstream]]
name = "c"
url = "https://h:1"
cert = "missing.pem"
key = "key.pem"
`, []string{"5: upstream[0].ca_file: only an https", "10: upstream[1].ca_file: no PEM certificate", "9: upstream[1].cert: cert and key go together",
			"14: upstream[2].cert: no such file"}},
		{"health", `
[[upstream]]
name = "a"
url = "http://h:1"
  [upstream.health]
  backoff = 5
`, []string{"must be a duration string"}},
		{"probe", `
[[upstream]]
name = "a"
url = "http://h:1"
  [upstream.health]
  probe = "nohost"
  max_backoff = "1s"
`, []string{"6: upstream[0].health.probe: not host:port", "7: upstream[0].health.max_backoff: must not be less"}},
		{"routes", `
[[route]]
domain = ".x"
[[route]]
name = "r"
upstream = "nowhere"
port = 0
[[route]]
name = "r"
upstream = "env"
[routing]
default = "gone"
`, []string{"2: route[0].upstream: required", "6: route[1].upstream: \"nowhere\" is not", "7: route[1].port: not a port",
			"9: route[2].name: route name \"r\" used twice", "12: routing.default: \"gone\""}},
		{"listener tls", `
[[listener]]
address = "127.0.0.1:0"
tls = { cert = "cert.pem", cert_user = "cn" }
[[listener]]
name = "b"
address = "127.0.0.1:0"
tls = { cert = "cert.pem", key = "key.pem", client_ca = "junk.pem", cert_user = "uid" }
`, []string{"4: listener[0].tls.cert: a TLS listener needs cert and key", "4: listener[0].tls.cert_user: needs client_ca",
			"8: listener[1].tls.client_ca: no PEM certificate", "8: listener[1].tls.cert_user: must be"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseIn(t, dir, tt.in)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want Errors", err)
			}
			text := err.Error()
			for _, w := range tt.want {
				if !hasProblem(text, w) {
					t.Errorf("missing %q in:\n%s", w, text)
				}
			}
		})
	}
}

// hasProblem reports whether errors text has a line for want, written
// "LINE: KEY: fragment" (the fragment anywhere in that line's message), or
// a bare fragment found anywhere.
func hasProblem(text, want string) bool {
	parts := strings.SplitN(want, ": ", 3)
	if len(parts) < 2 {
		return strings.Contains(text, want)
	}
	for _, line := range strings.Split(text, "\n") {
		_, rest, ok := strings.Cut(line, "ferry.toml:"+parts[0]+": "+parts[1]+": ")
		if ok && (len(parts) < 3 || strings.Contains(rest, parts[2])) {
			return true
		}
	}
	return false
}

// A url that does not parse is reported without its password.
func TestChainURLErrorHidesPassword(t *testing.T) {
	_, err := Parse("f.toml", []byte("[[upstream]]\nname = \"a\"\nurl = \"http://u:SECRETPW@h:1:2\"\n"))
	if err == nil || !strings.Contains(err.Error(), "bad url") || strings.Contains(err.Error(), "SECRETPW") {
		t.Fatalf("err = %v", err)
	}
}

// A TLS listener that checks client certificates is no open proxy.
func TestChainTLSListenerNotOpen(t *testing.T) {
	dir := t.TempDir()
	writePEM(t, dir)
	_, err := parseIn(t, dir, `
[[listener]]
address = "0.0.0.0:0"
tls = { cert = "cert.pem", key = "key.pem", client_ca = "cert.pem" }
[acl]
default = "allow"
`)
	if err != nil {
		t.Errorf("a listener requiring client certificates was refused: %v", err)
	}
	_, err = parseIn(t, dir, `
[[listener]]
address = "0.0.0.0:0"
tls = { cert = "cert.pem", key = "key.pem" }
[acl]
default = "allow"
`)
	if err == nil || !strings.Contains(err.Error(), "open proxy") {
		t.Errorf("a TLS listener without client certificates or auth: %v, want the open-proxy refusal", err)
	}
}

func FuzzParseChain(f *testing.F) {
	f.Add(chainOK)
	f.Add("[[upstream]]\nname=\"a\"\nurl=\"http://h:1\"\nvia=\"a\"\n")
	f.Add("[[route]]\nupstream=\"x\"\n[[upstream_group]]\nmembers=[\"\"]\n")
	f.Fuzz(func(t *testing.T, in string) {
		cfg, err := Parse("fuzz.toml", []byte(in))
		if err != nil {
			return
		}
		for _, g := range cfg.Groups {
			if len(g.Members) == 0 || g.Policy == "" {
				t.Fatalf("accepted group %+v", g)
			}
		}
		for _, r := range cfg.Routes {
			if r.Upstream == "" || r.Name == "" {
				t.Fatalf("accepted route %+v", r)
			}
		}
	})
}

// The commented chaining block of config.toml.example, uncommented, is a
// valid config whose values are the defaults it documents; the embedded
// default itself routes everything direct.
func TestChainExampleBlock(t *testing.T) {
	src, err := os.ReadFile("../../config.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	i := strings.Index(text, "# [[upstream]]")
	if i < 0 {
		t.Fatal("no commented [[upstream]] block in config.toml.example")
	}
	end := strings.Index(text[i:], "\n\n")
	var b strings.Builder
	for _, line := range strings.Split(text[i:i+end], "\n") {
		b.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ") + "\n")
	}
	// corp2, the group's second member, is only named in the example.
	b.WriteString("[[upstream]]\nname = \"corp2\"\nurl = \"http://proxy2.corp.example:3128\"\n")
	f, err := Parse("example", []byte(b.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	u, h := f.Upstreams[0], f.Upstreams[0].Health
	if u.Via != "" || time.Duration(h.Backoff) != 2*time.Second || time.Duration(h.MaxBackoff) != time.Minute ||
		time.Duration(h.Interval) != 30*time.Second || f.Groups[0].Policy != "failover" || f.Routing.Default != "direct" {
		t.Fatalf("the example's values differ from the defaults: %+v %+v %+v", u, f.Groups[0], f.Routing)
	}
	def, err := Parse("default", src)
	if err != nil || len(def.Upstreams)+len(def.Routes)+len(def.Groups) != 0 || def.Routing.Default != "direct" || def.Listeners[0].TLS != nil {
		t.Fatalf("embedded default: %v, %+v", err, def.Routing)
	}
}

// ferry check prints the effective config as TOML: durations come out as
// strings that load again.
func TestChainDurationRoundTrip(t *testing.T) {
	var b strings.Builder
	in := tunnel.HealthSpec{Backoff: 1500 * time.Millisecond}
	if err := toml.NewEncoder(&b).Encode(in); err != nil {
		t.Fatal(err)
	}
	var out tunnel.HealthSpec
	if _, err := toml.Decode(b.String(), &out); err != nil || out.Backoff != in.Backoff {
		t.Fatalf("%q decodes to %+v, %v", b.String(), out, err)
	}
}

// An https upstream speaks HTTP/2 when its parent offers it unless told
// not to, over one connection unless told more (#21).
func TestUpstreamHTTP2Keys(t *testing.T) {
	tests := []struct {
		name, keys string
		h2         bool
		conns      int
	}{
		{"defaults", "", true, 1},
		{"off", "http2 = false\n", false, 1},
		{"eight", "http2_conns = 8\n", true, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("f.toml", []byte("[[upstream]]\nname = \"p\"\nurl = \"https://127.0.0.1:1\"\n"+tt.keys+
				"[routing]\ndefault = \"p\"\n"))
			if err != nil {
				t.Fatal(err)
			}
			u := f.RoutingSpec.Upstreams[0]
			if u.HTTP2 != tt.h2 || u.H2Conns != tt.conns {
				t.Errorf("http2 %v, conns %d; want %v, %d", u.HTTP2, u.H2Conns, tt.h2, tt.conns)
			}
		})
	}
}
