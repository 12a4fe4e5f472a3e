package config

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

const reverseOK = `
[[listener]]
address = "127.0.0.1:0"

[[reverse]]
name = "edge"
address = "127.0.0.1:8443"
mode = "tls"
max_conns_per_ip = 0
deny = ["10.0.0.0/8", "192.0.2.1"]
  [[reverse.route]]
  name = "app"
  server_names = ["app.example.com", "*.example.org"]
  policy = "source_hash"
  backends = [{ address = "127.0.0.1:9001", weight = 3 }, { address = "127.0.0.1:9002" }]
  [reverse.route.health]
  check = "tls"
  rise = 1
  [[reverse.route]]
  name = "rest"
  default = true
  retries = 0
  backends = [{ address = "backend.internal:443" }]

[[reverse]]
address = "127.0.0.1:5432"
mode = "tcp"
  [[reverse.route]]
  proxy_protocol = 2
  backends = [{ address = "127.0.0.1:5433" }]
`

func TestReverseDefaults(t *testing.T) {
	f, err := Parse("ok.toml", []byte(reverseOK))
	if err != nil {
		t.Fatal(err)
	}
	l := f.Reverse[0]
	if l.MaxConns != 10000 || l.MaxConnsPerIP != 0 || l.HandshakeTimeout != f.Limits.HandshakeTimeout {
		t.Fatalf("listener defaults: max_conns %d per_ip %d handshake %v", l.MaxConns, l.MaxConnsPerIP, l.HandshakeTimeout)
	}
	r := l.Routes[0]
	if r.TLS != "passthrough" || r.Retries != 2 || r.Backends[0].Weight != 3 || r.Backends[1].Weight != 1 ||
		r.Health.Interval.String() != "5s" || r.Health.Rise != 1 || r.Health.Fall != 3 {
		t.Fatalf("route defaults: %+v", r)
	}
	if l.Routes[1].Retries != 0 {
		t.Fatal("an explicit retries = 0 was replaced by the default")
	}
	if f.Reverse[1].Name != "reverse1" || f.Reverse[1].Routes[0].Name != "route0" || f.Reverse[1].Routes[0].Policy != "round_robin" {
		t.Fatalf("names and policy: %+v", f.Reverse[1])
	}
}

// Every problem is reported with the line of the key in its own nested
// table, not the first table of that name.
func TestReverseErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // "line: key: message fragment"
	}{
		{"mode and address", `
[[reverse]]
mode = "udp"
  [[reverse.route]]
  backends = [{ address = "127.0.0.1:1" }]
`, []string{"2: reverse[0].address: required", "3: reverse[0].mode: must be tcp or tls"}},
		{"second listener's route", `
[[reverse]]
address = "127.0.0.1:1"
mode = "tcp"
  [[reverse.route]]
  backends = [{ address = "127.0.0.1:2" }]
[[reverse]]
address = "127.0.0.1:3"
mode = "tls"
  [[reverse.route]]
  server_names = ["ok.example"]
  backends = [{ address = "127.0.0.1:4" }]
  [[reverse.route]]
  server_names = ["bad name", "ok.example"]
  policy = "random"
  backends = [{ address = "127.0.0.1:0" }]
  [reverse.route.health]
  fall = -1
`, []string{
			`14: reverse[1].route[1].server_names[0]: "bad name" is not a host name`,
			`14: reverse[1].route[1].server_names[1]: "ok.example" is already routed`,
			"15: reverse[1].route[1].policy: must be",
			"16: reverse[1].route[1].backends[0].address: want host:port",
			"18: reverse[1].route[1].health.fall: must be between",
		}},
		{"tcp with two routes and names", `
[[reverse]]
address = "127.0.0.1:1"
mode = "tcp"
  [[reverse.route]]
  server_names = ["a.example"]
  backends = [{ address = "127.0.0.1:2" }]
  [[reverse.route]]
  backends = [{ address = "127.0.0.1:2" }]
`, []string{"2: reverse[0]: a tcp listener has exactly one route", "6: reverse[0].route[0].server_names: a tcp listener"}},
		{"terminate without certificate, tls options on passthrough", `
[[reverse]]
address = "127.0.0.1:1"
mode = "tls"
  [[reverse.route]]
  default = true
  tls = "terminate"
  backends = [{ address = "127.0.0.1:2" }]
  [[reverse.route]]
  server_names = ["x.example"]
  alpn = ["h2"]
  proxy_protocol = 3
  deny = ["not-a-cidr"]
  backends = [{ address = "127.0.0.1:2" }]
`, []string{"5: reverse[0].route[0].certificates: tls = \"terminate\" needs", "9: reverse[0].route[1].tls: certificates, alpn",
			"12: reverse[0].route[1].proxy_protocol: must be 0", "13: reverse[0].route[1].deny[0]: bad CIDR"}},
		{"explicit zeros", `
[[reverse]]
address = "127.0.0.1:1"
mode = "tcp"
  [[reverse.route]]
  backends = [{ address = "127.0.0.1:2", weight = 0 }]
  [reverse.route.health]
  rise = 0
  fall = 0
`, []string{"6: reverse[0].route[0].backends[0].weight: must be between 1 and 1000, not 0 (remove a backend",
			"8: reverse[0].route[0].health.rise: must be between 1 and 100, not 0",
			"9: reverse[0].route[0].health.fall: must be between 1 and 100, not 0"}},
		{"no route, unknown key", `
[[reverse]]
address = "127.0.0.1:1"
mode = "tls"
colour = "blue"
`, []string{"5: reverse.colour: unknown key", "2: reverse[0]: needs a [[reverse.route]]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte("[[listener]]\naddress = \"127.0.0.1:0\"\n"+strings.TrimPrefix(tt.in, "\n")))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v, want config errors", err)
			}
			text := err.Error()
			for _, w := range tt.want {
				// Lines in want count the blank line tt.in starts with; the two-line
				// [[listener]] prefix replaces it, so they shift by 1.
				line, rest, _ := strings.Cut(w, ": ")
				want := "t.toml:" + shift(line, 1) + ": " + rest
				if !strings.Contains(text, want) {
					t.Errorf("missing %q in:\n%s", want, text)
				}
			}
			if len(errs) != len(tt.want) {
				t.Errorf("%d errors, want %d:\n%s", len(errs), len(tt.want), text)
			}
		})
	}
}

func shift(line string, by int) string {
	n, _ := strconv.Atoi(line)
	return strconv.Itoa(n + by)
}

// FuzzParseReverse: any input is refused or accepted, never a panic, and
// an accepted config has every reverse default filled in.
func FuzzParseReverse(f *testing.F) {
	f.Add(reverseOK)
	f.Add("[[reverse]]\n[[reverse.route]]\n[reverse.route.health]\n")
	f.Add("[[reverse.route]]\nbackends = [{}]\n")
	f.Fuzz(func(t *testing.T, in string) {
		cfg, err := Parse("fuzz.toml", []byte(in))
		if err != nil {
			return
		}
		for _, l := range cfg.Reverse {
			if l.MaxConns < 0 || l.MaxConnsPerIP < 0 || len(l.Routes) == 0 || l.HandshakeTimeout <= 0 {
				t.Fatalf("accepted listener without defaults: %+v", l)
			}
			for _, r := range l.Routes {
				if r.Retries < 0 || len(r.Backends) == 0 || r.Health.Rise <= 0 || r.Health.Fall <= 0 || r.Backends[0].Weight <= 0 || r.Health.Interval <= 0 {
					t.Fatalf("accepted route without defaults: %+v", r)
				}
			}
		}
	})
}

// The commented-out [[reverse]] block in config.toml.example, uncommented,
// is a valid config with the defaults it documents: the example cannot
// drift from the code.
func TestReverseExampleBlock(t *testing.T) {
	src, err := os.ReadFile("../../config.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	i := strings.Index(text, "# [[reverse]]")
	if i < 0 {
		t.Fatal("no commented [[reverse]] block in config.toml.example")
	}
	var b strings.Builder
	b.WriteString(text[:i])
	for _, line := range strings.Split(text[i:], "\n") {
		line = strings.TrimPrefix(line, "#")
		b.WriteString(strings.TrimPrefix(line, " ") + "\n")
	}
	f, err := Parse("example", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Reverse) != 1 || len(f.Reverse[0].Routes) != 1 {
		t.Fatalf("parsed %d reverse listeners", len(f.Reverse))
	}
	l, r := f.Reverse[0], f.Reverse[0].Routes[0]
	if l.MaxConns != 10000 || l.MaxConnsPerIP != 1024 || r.Retries != 2 ||
		r.Health.Rise != 2 || r.Health.Fall != 3 || r.Health.Interval.String() != "5s" || r.Health.Timeout.String() != "2s" ||
		r.Health.FailTimeout.String() != "10s" || r.Policy != "round_robin" || r.TLS != "passthrough" || l.HandshakeTimeout != f.Limits.HandshakeTimeout {
		t.Fatalf("the example's values differ from the defaults: %+v %+v", l, r)
	}
	// And the embedded default itself has no reverse listener.
	def, err := Parse("default", src)
	if err != nil || len(def.Reverse) != 0 {
		t.Fatalf("embedded default: %v, %d reverse listeners", err, len(def.Reverse))
	}
}

// A terminating route's certificate, key and backend CA are found
// relative to the config file, as every other file the config names,
// whatever the working directory.
func TestReverseFilesRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	writePEM(t, dir)
	conf := `
[[listener]]
address = "127.0.0.1:0"

[[reverse]]
address = "127.0.0.1:0"
mode = "tls"
  [[reverse.route]]
  default = true
  tls = "terminate"
  certificates = [{ cert = "cert.pem", key = "key.pem" }]
  backend_tls = true
  backend_ca = "cert.pem"
  backends = [{ address = "127.0.0.1:9001" }]
`
	f, err := Parse(dir+"/ferry.toml", []byte(conf))
	if err != nil {
		t.Fatalf("a config naming files beside it, read from another directory: %v", err)
	}
	r := f.Reverse[0].Routes[0]
	if want := dir + "/cert.pem"; r.Certificates[0].Cert != want || r.Certificates[0].Key != dir+"/key.pem" || r.BackendCA != want {
		t.Errorf("paths %q %q %q, want them under %s", r.Certificates[0].Cert, r.Certificates[0].Key, r.BackendCA, dir)
	}
}
