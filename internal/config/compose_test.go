package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every duration key, in every table and array of tables, refuses a bare
// number: TOML would read it as nanoseconds. (Before #15 item 4 only
// [limits] and log.access_flush did: auth.cache_ttl = 300 was 300ns.)
func TestBareNumberDurationsRefused(t *testing.T) {
	tables := map[string]string{
		"limits":               "[limits]\n",
		"log":                  "[log]\n",
		"auth":                 "[auth]\n",
		"reverse":              "[[reverse]]\naddress = \"127.0.0.1:1\"\nmode = \"tcp\"\n",
		"reverse.route.health": "[[reverse]]\naddress = \"127.0.0.1:1\"\nmode = \"tcp\"\n[[reverse.route]]\nbackends = [{ address = \"127.0.0.1:2\" }]\n[reverse.route.health]\n",
		"upstream.health":      "[[upstream]]\nname = \"u\"\nurl = \"http://127.0.0.1:3128\"\n[upstream.health]\n",
		"upstream[1].health":   "[[upstream]]\nname = \"a\"\nurl = \"http://127.0.0.1:3128\"\n[[upstream]]\nname = \"u\"\nurl = \"http://127.0.0.1:3128\"\n[upstream.health]\n",
	}
	keys := []string{
		"limits.handshake_timeout", "limits.dial_timeout", "limits.idle_timeout", "limits.keepalive_timeout",
		"limits.response_timeout", "limits.shutdown_grace", "log.access_flush", "auth.cache_ttl",
		"reverse.handshake_timeout", "reverse.route.health.interval", "reverse.route.health.timeout",
		"reverse.route.health.fail_timeout", "upstream.health.backoff", "upstream.health.max_backoff",
		"upstream.health.interval", "upstream[1].health.interval",
	}
	for _, key := range keys {
		t.Run(key, func(t *testing.T) {
			table, name := key[:strings.LastIndex(key, ".")], key[strings.LastIndex(key, ".")+1:]
			src := "[[listener]]\naddress = \"127.0.0.1:0\"\n" + tables[table] + name + " = 10\n"
			line := strings.Count(src, "\n")
			_, err := Parse("f.toml", []byte(src))
			want := fmt.Sprintf("f.toml:%d: %s: must be a duration string", line, strings.Replace(key, "[1]", "", 1))
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s = 10: %v, want %q", key, err, want)
			}
		})
	}
}

// A value of the wrong type does not hide the rest: every one is listed,
// with the problems validation finds in what is left, in line order, and
// the same list every time (the decoder meets them in map order).
func TestEveryProblemListedInOrder(t *testing.T) {
	src := `[limits]
max_conns = "many"
dial_timeout = "soon"
keepalive_timeout = "-1s"
[log]
format = 3
level = "loud"
[auth.groups]
a = "x"
b = 5
[[acl.rule]]
name = "r"
action = "allow"
port = true
[[acl.rule]]
name = "r"
action = "maybe"
`
	want := []string{
		"f.toml:2: limits.max_conns: incompatible types",
		"f.toml:3: limits.dial_timeout:",
		"f.toml:4: limits.keepalive_timeout: must not be negative",
		"f.toml:6: log.format: incompatible types",
		"f.toml:7: log.level: must be debug",
		"f.toml:9: auth.groups.a: incompatible types",
		"f.toml:10: auth.groups.b: incompatible types",
		"f.toml:14: acl.rule.port:",
		"f.toml:16: acl.rule[1].name: rule name \"r\" used twice",
		"f.toml:17: acl.rule[1].action: must be allow or deny",
	}
	var first string
	for run := range 20 {
		_, err := Parse("f.toml", []byte(src))
		var es Errors
		if !errors.As(err, &es) {
			t.Fatalf("err = %v, want Errors", err)
		}
		if run == 0 {
			first = err.Error()
			if len(es) != len(want) {
				t.Fatalf("%d problems, want %d:\n%v", len(es), len(want), err)
			}
			for i, w := range want {
				if !strings.HasPrefix(es[i].Error(), w) {
					t.Errorf("problem %d = %q, want it to start %q", i, es[i], w)
				}
			}
		} else if err.Error() != first {
			t.Fatalf("run %d listed\n%v\nrun 0 listed\n%v", run, err, first)
		}
	}
}

// A syntax error stops the reading: nothing after it can be trusted.
func TestSyntaxErrorAlone(t *testing.T) {
	_, err := Parse("f.toml", []byte("[limits]\nmax_conns = \"many\"\n[log\n"))
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || !strings.Contains(es[0].Msg, "expected") {
		t.Fatalf("err = %v, want the one syntax error", err)
	}
}

// Load builds the rules, routing, users and block page once; a domain
// list named by a rule and a route is read once.
func TestLoadBuildsOnce(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ads.txt", "ads.example\n")
	write("page.tmpl", "<p>{{.Rule}}</p>\n")
	write("ferry.toml", `
[[listener]]
address = "127.0.0.1:0"
[acl]
block_page = "page.tmpl"
[[acl.rule]]
name = "ads"
action = "deny"
domain_list = "ads.txt"
[[auth.user]]
name = "alice"
bcrypt = "$2a$04$yxL0KkEM3lGbXs0yb5eWxe2o7zcHlGu5h7ARhQvHIIQAAA4/dmHlq"
[[upstream]]
name = "corp"
url = "http://127.0.0.1:3128"
[[route]]
upstream = "corp"
domain_list = "ads.txt"
`)
	f, err := Load(filepath.Join(dir, "ferry.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Rules == nil || f.RoutingSpec == nil || f.Users == nil || !f.Users.Has("alice") || f.BlockPage == nil {
		t.Fatalf("Load left something unbuilt: %+v", f)
	}
	if len(f.Lists) != 1 || f.Lists[0].Stats.Entries != 1 {
		t.Errorf("lists read: %+v, want ads.txt once", f.Lists)
	}
}
