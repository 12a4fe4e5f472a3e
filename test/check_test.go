package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheck: ferry check validates without starting: exit 0 with the
// effective config (which is itself a valid config that checks to the
// same output), or exit 2 with every problem, each at its file:line.
func TestCheck(t *testing.T) {
	t.Run("good config, defaults filled in", func(t *testing.T) {
		path := writeConfig(t, minimalConfig+"\n[pac]\ndirect = [\".corp.example\"]\n")
		code, stdout, stderr := runFerry(t, "check", "-config", path)
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		for _, want := range []string{
			"is valid",
			`address = "127.0.0.1:0"`,
			`handshake_timeout = "10s"`, // defaults the file did not set
			`max_conns = 10000`,
			`access = "stderr"`,
			`direct = [".corp.example"]`,
			"[admin]",
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, stdout)
			}
		}
		// The effective config is a config: checking it gives it back.
		again := writeConfig(t, stdout)
		code, stdout2, stderr := runFerry(t, "check", "-config", again)
		if code != 0 {
			t.Fatalf("the printed config does not check: exit %d %q", code, stderr)
		}
		_, body, _ := strings.Cut(stdout, "\n")
		_, body2, _ := strings.Cut(stdout2, "\n")
		if body != body2 {
			t.Errorf("not a fixed point:\n%s\nthen\n%s", body, body2)
		}
	})
	t.Run("every problem listed", func(t *testing.T) {
		path := writeConfig(t, "bogus = 1\n"+
			"[[listener]]\naddress = \"nope\"\n"+
			"[admin]\naddress = \"0.0.0.0:9090\"\n"+
			"[pac]\ndirect = [\"10.0.0.1/8\"]\n"+
			"[log]\naccess_format = \"xml\"\n")
		code, stdout, stderr := runFerry(t, "check", "-config", path)
		if code != 2 || stdout != "" {
			t.Errorf("exit %d, stdout %q; want 2 and nothing", code, stdout)
		}
		for _, want := range []string{
			fmt.Sprintf("%s:1: bogus: unknown key", path),
			fmt.Sprintf("%s:3: listener[0].address: bad address", path),
			fmt.Sprintf("%s:5: admin.address:", path),
			fmt.Sprintf("%s:7: pac.direct[0]:", path),
			fmt.Sprintf("%s:9: log.access_format:", path),
		} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
		}
	})
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // "" means stdout must be empty
		stderr string
	}{
		{"embedded default", []string{"check"}, 0, "config.toml.example (embedded) is valid", ""},
		{"quiet", []string{"check", "-q"}, 0, "", ""},
		{"missing file", []string{"check", "-config", "/nonexistent/ferry.toml"}, 2, "", "/nonexistent/ferry.toml"},
		{"stray argument", []string{"check", "extra"}, 2, "", `unexpected argument "extra"`},
		{"bad flag", []string{"check", "-bogus"}, 2, "", "flag provided but not defined"},
		{"help", []string{"check", "-h"}, 0, "", "Usage: ferry check"},
		{"bad -listen", []string{"check", "-listen", "nope"}, 2, "", "-listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runFerry(t, tt.args...)
			if code != tt.code || (tt.stdout == "") != (stdout == "") || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, stdout %.100q, stderr %q; want %d, %q, %q", code, stdout, stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
	_, _, usage := runFerry(t, "-h")
	if !strings.Contains(usage, "ferry check") {
		t.Errorf("ferry -h does not mention ferry check:\n%s", usage)
	}
}

// TestCheckRefusesWhatStartRefuses: a cache directory or an access-log
// file ferry could not create at start is refused by ferry check and by
// ferry itself, both exit 2 with the same file:line: key: reason (#16
// item 5: check and start share one validation), and neither creates
// anything; a directory ferry can create passes both.
func TestCheckRefusesWhatStartRefuses(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(dir, "read-only")
	if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "foreign")
	if err := os.MkdirAll(filepath.Join(foreign, "photos"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, table, path string
		key, reason       string // "" when the config is good
		asRoot            bool   // the case holds for root too
	}{
		{"cache dir new in a writable directory", "cache", filepath.Join(dir, "new", "cache"), "", "", true},
		{"cache dir under a regular file", "cache", filepath.Join(file, "cache"), "cache.disk_dir", "cannot be created or written", true},
		{"cache dir in a read-only directory", "cache", filepath.Join(readOnly, "cache"), "cache.disk_dir", "permission denied", false},
		{"cache dir that is someone else's", "cache", foreign, "cache.disk_dir", "not a ferry cache directory", true},
		{"access log in a writable directory", "log", filepath.Join(dir, "access.log"), "", "", true},
		{"access log in a missing directory", "log", filepath.Join(dir, "missing", "access.log"), "log.access", "no such file or directory", true},
		{"access log is a directory", "log", readOnly, "log.access", "is a directory", true},
		{"access log in a read-only directory", "log", filepath.Join(readOnly, "access.log"), "log.access", "permission denied", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.asRoot && os.Geteuid() == 0 {
				t.Skip("root may write in a read-only directory")
			}
			table := fmt.Sprintf("\n[cache]\nenabled = true\ndisk_dir = %q\n", tt.path)
			if tt.table == "log" {
				table = fmt.Sprintf("\n[log]\naccess = %q\n", tt.path)
			}
			path := writeConfig(t, minimalConfig+table)
			line := strings.Count(minimalConfig+table, "\n")
			code, _, stderr := runFerry(t, "check", "-q", "-config", path)
			if tt.key == "" {
				if code != 0 {
					t.Errorf("check: exit %d, %s", code, stderr)
				}
			} else {
				want := fmt.Sprintf("%s:%d: %s: ", path, line, tt.key)
				for _, args := range [][]string{{"check", "-q", "-config", path}, {"-config", path}} {
					code, _, stderr := runFerry(t, args...)
					if code != 2 || !strings.Contains(stderr, want) || !strings.Contains(stderr, tt.reason) {
						t.Errorf("ferry %s: exit %d, stderr %q; want 2 with %q and %q", strings.Join(args, " "), code, stderr, want, tt.reason)
					}
				}
			}
			if _, err := os.Stat(tt.path); err == nil && tt.path != readOnly && tt.path != foreign {
				t.Errorf("%s was created", tt.path)
			}
		})
	}
}

// TestCheckWarnsRemoteDNS: address rules beside a route to an upstream that
// resolves names itself are warned about by ferry check, which still
// passes the config (issue 20 item 12).
func TestCheckWarnsRemoteDNS(t *testing.T) {
	path := writeConfig(t, "[[listener]]\naddress = \"127.0.0.1:0\"\n[[upstream]]\nname = \"corp\"\nurl = \"http://192.0.2.1:3128\"\n[routing]\ndefault = \"corp\"\n")
	code, _, stderr := runFerry(t, "check", "-q", "-config", path)
	if code != 0 || !strings.Contains(stderr, "warning: acl: rules deny-internal-destinations match destination addresses, but requests routed to corp are resolved by the upstream") {
		t.Errorf("exit %d, stderr %q; want 0 with the remote-DNS warning", code, stderr)
	}
}

// TestPolicyFilesRefused: the files a config names (htpasswd, domain
// lists, block page) are read by ferry check as by ferry at start, and a
// bad one is refused by both with exit 2 and file:line: key: reason.
func TestPolicyFilesRefused(t *testing.T) {
	dir := t.TempDir()
	apr1 := filepath.Join(dir, "apr1.htpasswd")
	broken := filepath.Join(dir, "broken.tmpl")
	for name, text := range map[string]string{apr1: "bob:$apr1$a$b\n", broken: "{{.Rule"} {
		if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name, config string
		line         int
		key, reason  string
	}{
		{"non-bcrypt htpasswd", fmt.Sprintf("[auth]\nhtpasswd = %q\n", apr1), 2, "auth.htpasswd", "only bcrypt"},
		{"missing htpasswd", fmt.Sprintf("[auth]\nhtpasswd = %q\n", missing), 2, "auth.htpasswd", "no such file"},
		{"missing domain list", fmt.Sprintf("[acl]\ndefault = \"allow\"\n[[acl.rule]]\nname = \"ads\"\naction = \"deny\"\ndomain_list = [%q]\n", missing),
			6, "acl.rule[0].domain_list", "no such file"},
		{"missing block page", fmt.Sprintf("[acl]\ndefault = \"deny\"\nblock_page = %q\n", missing), 3, "acl.block_page", "no such file"},
		{"broken block page", fmt.Sprintf("[acl]\ndefault = \"deny\"\nblock_page = %q\n", broken), 3, "acl.block_page", "unclosed action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, "[[listener]]\naddress = \"127.0.0.1:0\"\n"+tt.config)
			want := fmt.Sprintf("%s:%d: %s: ", path, tt.line+2, tt.key)
			for _, args := range [][]string{{"check", "-q", "-config", path}, {"-config", path}} {
				code, _, stderr := runFerry(t, args...)
				if code != 2 || !strings.Contains(stderr, want) || !strings.Contains(stderr, tt.reason) {
					t.Errorf("ferry %s: exit %d, stderr %q; want 2 with %q and %q", strings.Join(args, " "), code, stderr, want, tt.reason)
				}
			}
		})
	}
}
