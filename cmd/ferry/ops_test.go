package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/config"
)

// The access sink writes each format where it is told, and is complete
// whatever log.level says.
func TestAccessSink(t *testing.T) {
	tests := []struct {
		name, format string
		toFile       bool
		want         string // a substring of the line
	}{
		{"json on stderr", "json", false, `"message":"access"`},
		{"json to a file", "json", true, `"target":"example.com:443"`},
		{"console to a file, no colour", "console", true, "access"},
		{"squid to a file", "squid", true, " TCP_TUNNEL/200 7 CONNECT example.com:443 - HIER_NONE/- -"},
		{"squid on stderr", "squid", false, "TCP_TUNNEL/200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			// A flush interval longer than the test: the line reaches the
			// file because Close writes what waits.
			cfg := accesslog.Config{Access: "stderr", Format: tt.format, Flush: time.Hour}
			path := filepath.Join(t.TempDir(), "access.log")
			if tt.toFile {
				cfg.Access = path
			}
			sink, file, err := accessSink(cfg, &stderr, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := accesslog.Start(sink, "connect", netip.MustParseAddrPort("127.0.0.1:1"))
			r.Method, r.Target, r.Status, r.BytesDown = "CONNECT", "example.com:443", 200, 7
			r.Finish()
			got := stderr.String()
			if tt.toFile {
				if file == nil {
					t.Fatal("no file returned")
				}
				file.Close()
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if stderr.Len() != 0 {
					t.Errorf("stderr got %q, want the line only in the file", stderr.String())
				}
				got = string(b)
				if strings.Contains(got, "\x1b[") {
					t.Errorf("colour codes in a file: %q", got)
				}
			}
			if strings.Count(got, "\n") != 1 || !strings.Contains(got, tt.want) {
				t.Errorf("wrote %q, want one line with %q", got, tt.want)
			}
		})
	}
	if _, _, err := accessSink(accesslog.Config{Access: "/nonexistent/dir/access.log", Format: "json"}, os.Stderr, nil); err == nil {
		t.Error("an access log in a missing directory was opened")
	}
}

func TestOpsWarnings(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"loopback admin", "[[listener]]\naddress = \"127.0.0.1:0\"\n[admin]\naddress = \"127.0.0.1:9090\"\n", nil},
		{"public admin, loopback PAC", "[[listener]]\naddress = \"127.0.0.1:3128\"\n[admin]\naddress = \"0.0.0.0:9090\"\nallow_non_loopback = true\n",
			[]string{"without authentication", "points at 127.0.0.1:3128"}},
		{"public admin, PAC address set", "[[listener]]\naddress = \"127.0.0.1:3128\"\n[admin]\naddress = \"0.0.0.0:9090\"\nallow_non_loopback = true\n[pac]\nproxy_address = \"proxy.example:3128\"\n",
			[]string{"without authentication"}},
		{"cache off: its directory unused", "[cache]\ndisk_dir = \"/dev/null/ferry\"\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse("f.toml", []byte(tt.toml))
			if err != nil {
				t.Fatal(err)
			}
			got := opsWarnings(cfg)
			if len(got) != len(tt.want) {
				t.Fatalf("warnings %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d %q, want %q", i, got[i], w)
				}
			}
		})
	}
}

func TestSubcommandDispatch(t *testing.T) {
	var out, errb bytes.Buffer
	if _, ok := runSubcommand(nil, &out, &errb); ok {
		t.Error("no arguments ran a subcommand")
	}
	if _, ok := runSubcommand([]string{"-config", "x"}, &out, &errb); ok {
		t.Error("a flag ran a subcommand")
	}
	code, ok := runSubcommand([]string{"check", "-q"}, &out, &errb)
	if !ok || code != exitOK || out.Len() != 0 {
		t.Errorf("check -q: ran %v, exit %d, stdout %q", ok, code, out.String())
	}
}
