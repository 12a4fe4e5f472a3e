package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpsErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // "f.toml:LINE: text"
	}{
		{"admin on all interfaces", "[admin]\naddress = \"0.0.0.0:9090\"\n", []string{"f.toml:2: admin.address: \"0.0.0.0:9090\" is not a loopback address"}},
		{"admin on a LAN address", "[admin]\naddress = \"192.0.2.1:9090\"\n", []string{"f.toml:2: admin.address: \"192.0.2.1:9090\" is not a loopback"}},
		{"admin empty host", "[admin]\naddress = \":9090\"\n", []string{"f.toml:2: admin.address: \":9090\" is not a loopback"}},
		{"admin bad address", "[admin]\naddress = \"9090\"\n", []string{"f.toml:2: admin.address: bad address"}},
		{"admin on the proxy port", "[[listener]]\nname = \"main\"\naddress = \"127.0.0.1:8080\"\n[admin]\naddress = \"127.0.0.1:8080\"\n",
			[]string{`f.toml:5: admin.address: "127.0.0.1:8080" is the port of listener "main"`}},
		{"admin on the port of a wildcard listener", "[[listener]]\naddress = \"0.0.0.0:3128\"\n[admin]\naddress = \"127.0.0.1:3128\"\n",
			[]string{`f.toml:4: admin.address: "127.0.0.1:3128" is the port of listener "listener0"`}},
		{"allowed non-loopback admin still not on the proxy port", "[[listener]]\naddress = \"127.0.0.1:3128\"\n[admin]\naddress = \"0.0.0.0:3128\"\nallow_non_loopback = true\n",
			[]string{`f.toml:4: admin.address: "0.0.0.0:3128" is the port of listener`}},
		{"admin on localhost, a listener on 127.0.0.1, one port", "[[listener]]\nname = \"main\"\naddress = \"127.0.0.1:3128\"\n[admin]\naddress = \"localhost:3128\"\n",
			[]string{`f.toml:5: admin.address: "localhost:3128" is the port of listener "main"`}},
		{"admin on ::1, a listener on localhost", "[[listener]]\naddress = \"localhost:3128\"\n[admin]\naddress = \"[::1]:3128\"\n",
			[]string{`f.toml:4: admin.address: "[::1]:3128" is the port of listener "listener0"`}},
		{"admin on a v4-mapped spelling of the listener's address", "[[listener]]\naddress = \"127.0.0.1:3128\"\n[admin]\naddress = \"[::ffff:127.0.0.1]:3128\"\n",
			[]string{`f.toml:4: admin.address: "[::ffff:127.0.0.1]:3128" is the port of listener "listener0"`}},
		{"admin on 127.0.0.1, a listener on LOCALHOST.", "[[listener]]\naddress = \"LOCALHOST.:3128\"\n[admin]\naddress = \"127.0.0.1:3128\"\n",
			[]string{`f.toml:4: admin.address: "127.0.0.1:3128" is the port of listener "listener0"`}},
		{"bad pac entries, each named", "[pac]\ndirect = [\n  \".ok.example\",\n  \"bad host\",\n  \"10.0.0.1/8\",\n]\n",
			[]string{`f.toml:2: pac.direct[1]: "bad host" is not`, `f.toml:2: pac.direct[2]: "10.0.0.1/8" has host bits set; the network is 10.0.0.0/8`}},
		{"pac ipv6 network", "[pac]\ndirect = [\"fd00::/8\"]\n", []string{"f.toml:2: pac.direct[0]: \"fd00::/8\": PAC's isInNet matches IPv4 networks only"}},
		{"pac unspecified proxy address", "[pac]\nproxy_address = \"0.0.0.0:8080\"\n", []string{"f.toml:2: pac.proxy_address: \"0.0.0.0:8080\": clients need a host"}},
		{"pac proxy address without port", "[pac]\nproxy_address = \"proxy.example\"\n", []string{"f.toml:2: pac.proxy_address: bad address"}},
		{"bad access format", "[log]\naccess_format = \"apache\"\n", []string{`f.toml:2: log.access_format: must be json, console or squid, not "apache"`}},
		{"bare number access flush", "[log]\naccess_flush = 100\n", []string{`f.toml:2: log.access_flush: must be a duration string such as "10s", not a bare number`}},
		{"negative access flush", "[log]\naccess_flush = \"-1s\"\n", []string{`f.toml:2: log.access_flush: must be between 0s (each line at once) and 1m, not -1s`}},
		{"bad access path", "[log]\naccess = \" /var/log/x\"\n", []string{`f.toml:2: log.access: must be "stderr" or a file path`}},
		{"unknown admin key", "[admin]\nadress = \"127.0.0.1:1\"\n", []string{"f.toml:2: admin.adress: unknown key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tt.in))
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %v, want config.Errors", err)
			}
			if len(es) != len(tt.want) {
				t.Fatalf("%d problems reported, want %d:\n%v", len(es), len(tt.want), err)
			}
			for i, want := range tt.want {
				loc, text, _ := strings.Cut(want, ": ")
				if got := es[i].Error(); !strings.HasPrefix(got, loc+": ") || !strings.Contains(got, text) {
					t.Errorf("problem %d = %q, want %q at %s", i, got, text, loc)
				}
			}
		})
	}
}

func TestOpsAccepted(t *testing.T) {
	tests := []struct {
		name, in string
		check    func(f *File) string
	}{
		{"admin on loopback v4", "[admin]\naddress = \"127.0.0.1:9090\"\n", nil},
		{"admin on loopback v6", "[admin]\naddress = \"[::1]:9090\"\n", nil},
		{"admin on localhost", "[admin]\naddress = \"localhost:9090\"\n", nil},
		{"admin on 127.0.0.2, a listener on localhost, one port", "[[listener]]\naddress = \"localhost:3128\"\n[admin]\naddress = \"127.0.0.2:3128\"\n", nil},
		{"admin on localhost, a listener on 127.0.0.1, other ports", "[[listener]]\naddress = \"127.0.0.1:3128\"\n[admin]\naddress = \"localhost:3129\"\n", nil},
		{"admin on any free port", "[[listener]]\naddress = \"127.0.0.1:0\"\n[admin]\naddress = \"127.0.0.1:0\"\n", nil},
		{"admin on LAN when allowed", "[admin]\naddress = \"0.0.0.0:9090\"\nallow_non_loopback = true\npprof = false\n", func(f *File) string {
			if f.Admin.Pprof {
				return "pprof still on"
			}
			return ""
		}},
		{"pac", "[pac]\ndirect = [\".corp.example\", \"*.b.example\", \"10.0.0.0/8\", \"localhost\", \"::1\"]\nproxy_address = \"proxy.corp.example:3128\"\nplain_hosts_direct = false\n", func(f *File) string {
			if *f.PAC.PlainHostsDirect || len(f.PAC.Direct) != 5 {
				return "pac not as written"
			}
			return ""
		}},
		{"access file in squid", fmt.Sprintf("[log]\naccess = %q\naccess_format = \"squid\"\n", filepath.Join(os.TempDir(), "ferry-access.log")), nil},
		{"console follows format", "[log]\nformat = \"console\"\n", func(f *File) string {
			if f.Log.Config.Format != "console" || f.Log.Access != "stderr" {
				return "access log not console on stderr"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("f.toml", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				if msg := tt.check(f); msg != "" {
					t.Errorf("%s: %+v", msg, f)
				}
			}
		})
	}
}
