package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry"
	"github.com/ferry-proxy/ferry/acl"
)

func TestExampleACL(t *testing.T) {
	f, err := Parse("example", ferry.DefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	if f.ACLFromDefault || f.ACL.Default != "deny" || len(f.ACL.Rules) != 6 {
		t.Fatalf("acl %+v (from default %v)", f.ACL, f.ACLFromDefault)
	}
	r := f.ACL.Rules[2]
	if r.Name != "connect-https-only" || r.Not == nil || len(r.Not.Port) != 1 || r.Not.Port[0] != "443" {
		t.Fatalf("rule 2 %+v", r)
	}
}

// The default rules let a local client's datagrams reach DNS, NTP, QUIC
// and unprivileged ports, and nothing below 1024 else; TCP keeps its own
// list (no DNS over SOCKS CONNECT to port 53).
func TestExampleACLUDP(t *testing.T) {
	f, err := Parse("example", ferry.DefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	p := f.Rules
	tests := []struct {
		proto string
		port  uint16
		allow bool
		rule  string
	}{
		{"udp", 53, true, "allow-local-clients"},
		{"udp", 123, true, "allow-local-clients"},
		{"udp", 443, true, "allow-local-clients"},
		{"udp", 3478, true, "allow-local-clients"},
		{"udp", 80, false, "udp-safe-ports-only"},
		{"udp", 161, false, "udp-safe-ports-only"},
		{"socks", 53, false, "safe-ports-only"},
		{"socks", 80, true, "allow-local-clients"},
	}
	for _, tt := range tests {
		q := acl.Query{IP: netip.MustParseAddr("192.0.2.1"), Port: tt.port, Proto: tt.proto, Client: netip.MustParseAddr("127.0.0.1")}
		if v := p.Decide(&q); v.Allow != tt.allow || v.Rule != tt.rule {
			t.Errorf("%s to port %d: allow %v by %q, want %v by %q", tt.proto, tt.port, v.Allow, v.Rule, tt.allow, tt.rule)
		}
	}
}

func TestACLConfig(t *testing.T) {
	const hash = "$2a$04$abcdefghijklmnopqrstuuJ1OmYm7oMxe0C2oJ2aaNS0vTRJPaZzW"
	tests := []struct {
		name    string
		in      string
		wantErr string // "" for none
		check   func(t *testing.T, f *File)
	}{
		{"no acl table gets the example's rules", "[[listener]]\naddress = \"127.0.0.1:0\"\n", "", func(t *testing.T, f *File) {
			if !f.ACLFromDefault || len(f.ACL.Rules) != 6 {
				t.Fatalf("acl %+v", f.ACL)
			}
		}},
		{"empty acl table is taken as written", "[acl]\ndefault = \"allow\"\n", "", func(t *testing.T, f *File) {
			if f.ACLFromDefault || len(f.ACL.Rules) != 0 {
				t.Fatalf("acl %+v", f.ACL)
			}
		}},
		{"values of any shape", "[[acl.rule]]\nname = \"r\"\naction = \"deny\"\nport = 22\nnot.client = \"10.0.0.0/8\"\n", "", func(t *testing.T, f *File) {
			r := f.ACL.Rules[0]
			if len(r.Port) != 1 || r.Port[0] != "22" || r.Not.Client[0] != "10.0.0.0/8" {
				t.Fatalf("rule %+v", r)
			}
		}},
		{"bad rule names file, line and key", "[acl]\n\n[[acl.rule]]\nname = \"r\"\naction = \"deny\"\nport = \"99999\"\n",
			`example:6: acl.rule[0].port: "99999" is not a port`, nil},
		{"unknown matcher", "[[acl.rule]]\nname = \"r\"\naction = \"deny\"\nhost = \"x\"\n", "example:4: acl.rule.host: unknown key", nil},
		{"wrong value type", "[[acl.rule]]\nname = \"r\"\naction = \"deny\"\nport = true\n", "want a string or a number", nil},
		{"auth without users", "[[listener]]\naddress = \"127.0.0.1:0\"\nauth = true\n", "listener[0].auth: auth = true but there are no users", nil},
		{"socks4_auth without auth", "[[listener]]\naddress = \"127.0.0.1:0\"\nsocks4_auth = true\n", "socks4_auth only means something", nil},
		{"inline user not bcrypt", "[[auth.user]]\nname = \"a\"\nbcrypt = \"{SHA}x\"\n", "example:3: auth.user[0].bcrypt: password hash is SHA-1", nil},
		{"inline user ok", "[[listener]]\naddress = \"0.0.0.0:0\"\nauth = true\n[[auth.user]]\nname = \"a\"\nbcrypt = \"" + hash + "\"\n[auth.groups]\ng = [\"a\"]\n", "", nil},
		{"negative throttle", "[auth.throttle]\nclient_failures = 5\nclient_checks = -1\n", "example:3: auth.throttle.client_checks: must not be negative", nil},
		{"throttle off", "[auth.throttle]\nclient_failures = 0\nclient_checks = 0\nuser_failures = 0\n", "", nil},
		{"unknown group", "[[acl.rule]]\nname = \"r\"\naction = \"allow\"\ngroup = \"g\"\n", `no group "g"`, nil},
		{"open proxy refused", "[[listener]]\naddress = \"0.0.0.0:0\"\n[acl]\ndefault = \"allow\"\n",
			"example:2: listener[0].address: 0.0.0.0:0 is reachable from other hosts, has no auth, and acl.default = \"allow\" lets anonymous clients from any address through: ferry would be an open proxy", nil},
		{"open proxy names the rule", "[[listener]]\naddress = \":8080\"\n[[acl.rule]]\nname = \"web\"\naction = \"allow\"\nport = 443\n",
			`rule "web" lets anonymous clients`, nil},
		{"open proxy opted in", "[[listener]]\naddress = \"0.0.0.0:0\"\nallow_open_proxy = true\n[acl]\ndefault = \"allow\"\n", "", nil},
		{"client-limited rules are not open", "[[listener]]\naddress = \"0.0.0.0:0\"\n[[acl.rule]]\nname = \"lan\"\naction = \"allow\"\nclient = \"192.168.0.0/16\"\n", "", nil},
		{"loopback listener may be open", "[[listener]]\naddress = \"[::1]:0\"\n[acl]\ndefault = \"allow\"\n", "", nil},
		{"example rules off loopback are not open", "[[listener]]\naddress = \"0.0.0.0:0\"\n", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("example", []byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v\nwant it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

func TestListenFlagOpenProxy(t *testing.T) {
	f, err := Parse("example", []byte("[acl]\ndefault = \"allow\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = f.OverrideListeners([]string{"0.0.0.0:8080"})
	if err == nil || !strings.Contains(err.Error(), "allow_open_proxy") {
		t.Fatalf("-listen 0.0.0.0 with allow-all: %v", err)
	}
	if err := f.OverrideListeners([]string{"127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
}

func FuzzParseACL(f *testing.F) {
	f.Add("[[acl.rule]]\nname = \"r\"\naction = \"deny\"\nport = [22, \"1-5\"]\nnot.domain = \".example.com\"\n")
	f.Add("[acl]\ndefault = \"allow\"\n[[listener]]\naddress = \"0.0.0.0:1\"\n")
	f.Add(string(ferry.DefaultConfig))
	f.Fuzz(func(t *testing.T, in string) {
		Parse("fuzz", []byte(in))
	})
}

// acl.default_rules: true keeps the default rules after the file's (a
// file adding the README's allow-loopback rule loses nothing); false and
// unset take the file's as written, unset with a warning when the file
// redefines none of the defaults (#16 item 5).
func TestDefaultRules(t *testing.T) {
	mine := "[[acl.rule]]\nname = \"allow-loopback\"\naction = \"allow\"\nip = [\"127.0.0.0/8\", \"::1\"]\n"
	redefined := "[[acl.rule]]\nname = \"connect-https-only\"\naction = \"deny\"\nproto = \"connect\"\nnot.port = [443, 8443]\n"
	defaults := []string{"reverse-backends", "deny-internal-destinations", "connect-https-only", "safe-ports-only", "udp-safe-ports-only", "allow-local-clients"}
	tests := []struct {
		name, in string
		rules    []string
		warn     bool
	}{
		{"true: mine, then the defaults", "[acl]\ndefault_rules = true\n" + mine, append([]string{"allow-loopback"}, defaults...), false},
		{"true: a redefined default stays where the file puts it", "[acl]\ndefault_rules = true\n" + redefined + mine,
			[]string{"connect-https-only", "allow-loopback", "reverse-backends", "deny-internal-destinations", "safe-ports-only", "udp-safe-ports-only", "allow-local-clients"}, false},
		{"false: mine only, no warning", "[acl]\ndefault_rules = false\n" + mine, []string{"allow-loopback"}, false},
		{"unset: mine only, warned", "[acl]\n" + mine, []string{"allow-loopback"}, true},
		{"unset, a default redefined: as written", "[acl]\n" + redefined, []string{"connect-https-only"}, false},
		{"unset, no rules: as written", "[acl]\ndefault = \"allow\"\n", nil, false},
		{"true, no rules: the defaults", "[acl]\ndefault_rules = true\n", defaults, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("f.toml", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range f.ACL.Rules {
				got = append(got, r.Name)
			}
			if strings.Join(got, " ") != strings.Join(tt.rules, " ") || f.Rules.Len() != len(tt.rules) {
				t.Errorf("rules %v (%d compiled), want %v", got, f.Rules.Len(), tt.rules)
			}
			warned := len(f.Warnings) == 1 && strings.Contains(f.Warnings[0], "acl.default_rules = true")
			if warned != tt.warn || len(f.Warnings) > 1 {
				t.Errorf("warnings %q, want a default_rules warning: %v", f.Warnings, tt.warn)
			}
		})
	}
}

// Address rules beside routes to upstreams that resolve names themselves
// are warned about: ferry cannot enforce them there (issue 20 item 12).
func TestWarnRemoteDNS(t *testing.T) {
	up := func(name, url string) string {
		return fmt.Sprintf("[[upstream]]\nname = %q\nurl = %q\n", name, url)
	}
	addrRule := "[acl]\ndefault_rules = false\n[[acl.rule]]\nname = \"no-lan\"\naction = \"deny\"\nip = \"10.0.0.0/8\"\n[[acl.rule]]\nname = \"all\"\naction = \"allow\"\nclient = \"127.0.0.1\"\n"
	tests := []struct {
		name, in string
		want     string // a fragment of the warning; "" none
	}{
		{"default rules, http default route", up("corp", "http://192.0.2.1:3128") + "[routing]\ndefault = \"corp\"\n",
			"rules deny-internal-destinations match destination addresses, but requests routed to corp"},
		{"https upstream on a route", addrRule + up("remote", "https://192.0.2.1:8443") + "[[route]]\nupstream = \"remote\"\ndomain = \".corp\"\n", "no-lan"},
		{"socks5h", addrRule + up("tor", "socks5h://127.0.0.1:9050") + "[routing]\ndefault = \"tor\"\n", "routed to tor"},
		{"a group with one remote member", addrRule + up("a", "socks5://192.0.2.1:1080") + up("b", "http://192.0.2.2:3128") +
			"[[upstream_group]]\nname = \"g\"\nmembers = [\"a\", \"b\"]\n[routing]\ndefault = \"g\"\n", "routed to g"},
		{"the environment's proxies", addrRule + "[routing]\ndefault = \"env\"\n", "routed to env"},
		{"socks5: ferry resolves", addrRule + up("s", "socks5://192.0.2.1:1080") + "[routing]\ndefault = \"s\"\n", ""},
		{"no address rules", "[acl]\ndefault = \"allow\"\n" + up("corp", "http://192.0.2.1:3128") + "[routing]\ndefault = \"corp\"\n", ""},
		{"upstreams no route uses", addrRule + up("corp", "http://192.0.2.1:3128"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("f.toml", []byte("[[listener]]\naddress = \"127.0.0.1:0\"\n"+tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(f.Warnings, "\n")
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("warnings %q, want %q", got, tt.want)
			}
		})
	}
}

// The default rules deny every address of this host, not only loopback
// and private ones: ip "self" is the addresses HostAddrs reads at load
// (issue 20 item 2).
func TestDefaultRulesDenySelf(t *testing.T) {
	old := HostAddrs
	t.Cleanup(func() { HostAddrs = old })
	HostAddrs = func() ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("127.0.0.1")}, nil
	}
	f, err := Parse("f.toml", []byte("[[listener]]\naddress = \"127.0.0.1:0\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"198.51.100.7", "2001:db8::7", "::ffff:198.51.100.7"} {
		q := acl.Query{IP: netip.MustParseAddr(a).Unmap(), Port: 443, Proto: "connect", Method: "CONNECT", Client: netip.MustParseAddr("127.0.0.1")}
		if v := f.Rules.Decide(&q); v.Allow || v.Rule != "deny-internal-destinations" {
			t.Errorf("%s, this host's: %+v, want denied by deny-internal-destinations", a, v)
		}
	}
	q := acl.Query{IP: netip.MustParseAddr("198.51.100.8"), Port: 443, Proto: "connect", Method: "CONNECT", Client: netip.MustParseAddr("127.0.0.1")}
	if v := f.Rules.Decide(&q); !v.Allow {
		t.Errorf("198.51.100.8, another host's: %+v, want allowed", v)
	}
	HostAddrs = func() ([]netip.Addr, error) { return nil, errors.New("no netlink") }
	if _, err := Parse("f.toml", nil); err == nil || !strings.Contains(err.Error(), "self") { // the default rules name it
		t.Errorf("unreadable host addresses: %v, want the load refused", err)
	}
}

// Unreadable host addresses refuse only a config that names them.
func TestSelfUnreadable(t *testing.T) {
	old := HostAddrs
	t.Cleanup(func() { HostAddrs = old })
	HostAddrs = func() ([]netip.Addr, error) { return nil, errors.New("no netlink") }
	if _, err := Parse("f.toml", []byte("[acl]\ndefault = \"allow\"\n")); err != nil {
		t.Errorf("a config without self: %v", err)
	}
}
