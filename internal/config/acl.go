package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/ferry-proxy/ferry"
	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/tunnel"
)

// defaultACL is the [acl] table of the embedded config.toml.example. A
// file without an [acl] table gets it, so a minimal config is as safe as
// the documented one; a file with one gets what it says, with the default
// rules after its own if it says acl.default_rules = true.
func defaultACL() acl.Config {
	var d struct {
		ACL acl.Config `toml:"acl"`
	}
	if _, err := toml.Decode(string(ferry.DefaultConfig), &d); err != nil {
		panic("config.toml.example: " + err.Error()) // a build-time bug, caught by the tests
	}
	return d.ACL
}

// applyDefaultRules applies acl.default_rules to a file's [acl]: true
// puts the default rules (config.toml.example's) after the file's, but
// for those the file redefines by name, so that a file adding one rule
// keeps the rest; false keeps the file's alone. Unset, the file's rules
// are taken as written, and a file whose rules redefine none of the
// default ones is warned that they are not in force.
func (f *File) applyDefaultRules() {
	def := defaultACL().Rules
	mine := map[string]bool{}
	for _, r := range f.ACL.Rules {
		mine[r.Name] = true
	}
	var dropped []string
	for _, r := range def {
		if !mine[r.Name] {
			dropped = append(dropped, r.Name)
		}
	}
	switch on := f.ACL.DefaultRules; {
	case on != nil && *on:
		for _, r := range def {
			if !mine[r.Name] {
				f.ACL.Rules = append(f.ACL.Rules, r)
			}
		}
	case on == nil && len(f.ACL.Rules) > 0 && len(dropped) == len(def):
		f.Warnings = append(f.Warnings, fmt.Sprintf("acl: the rules of this file replace the default rules (%s): "+
			"set acl.default_rules = true to keep those after yours, or false if only yours are meant", strings.Join(dropped, ", ")))
	}
}

// warnRemoteDNS warns when rules on addresses coexist with routes to
// upstreams that resolve names themselves (http, https, socks5h, and the
// environment's proxies): ferry checks the addresses its own DNS gives,
// but the upstream connects to the addresses its DNS gives, which may
// differ (split DNS, a rebinding name). Only the upstream can enforce
// address rules there (issue 20 item 12).
func (f *File) warnRemoteDNS() {
	var rules []string
	for _, r := range f.ACL.Rules {
		if len(r.IP) > 0 || r.Not != nil && len(r.Not.IP) > 0 {
			rules = append(rules, r.Name)
		}
	}
	if len(rules) == 0 || f.RoutingSpec == nil {
		return
	}
	remote := map[string]bool{tunnel.ToEnv: true}
	for _, u := range f.Upstreams {
		scheme, _, _ := strings.Cut(u.URL, "://")
		remote[u.Name] = scheme != "socks5"
	}
	for _, g := range f.Groups {
		for _, m := range g.Members {
			remote[g.Name] = remote[g.Name] || remote[m]
		}
	}
	var via []string
	for _, r := range f.Routes {
		if remote[r.Upstream] && !slices.Contains(via, r.Upstream) {
			via = append(via, r.Upstream)
		}
	}
	if d := f.Routing.Default; remote[d] && !slices.Contains(via, d) {
		via = append(via, d)
	}
	if len(via) == 0 {
		return
	}
	f.Warnings = append(f.Warnings, fmt.Sprintf("acl: rules %s match destination addresses, but requests routed to %s "+
		"are resolved by the upstream: ferry checks the addresses its own DNS gives, the upstream connects to what its DNS gives; "+
		"enforce address rules on the upstream too, or use a socks5:// upstream (ferry resolves, the upstream gets the address)",
		strings.Join(rules, ", "), strings.Join(via, ", ")))
}

// checkAuth checks the listeners' auth settings against the users. A TLS
// listener whose verified client certificates name the user (client_ca
// and cert_user) needs no password users: the certificate satisfies auth.
func (f *File) checkAuth(report func(key, msg string)) {
	for i, l := range f.Listeners {
		key := fmt.Sprintf("listener[%d]", i)
		if l.Auth && !f.Auth.HasUsers() && !l.TLS.NamesUsers() {
			report(key+".auth", "auth = true but there are no users: set auth.htpasswd, add [[auth.user]], "+
				"or have client certificates name them (tls client_ca and cert_user)")
		}
		if l.SOCKS4Auth && !l.Auth {
			report(key+".socks4_auth", "socks4_auth only means something with auth = true")
		}
	}
}

// checkOpenProxy refuses a listener that anyone who can reach it may use:
// on an address other than loopback, without auth, while the rules let
// anonymous clients from any public address through, as walking the
// compiled rules for samples of every range tells (acl.Policy.OpenRule).
func (f *File) checkOpenProxy(report func(key, msg string)) {
	if f.Rules == nil {
		return // the rules did not compile: reported
	}
	open := f.Rules.OpenRule()
	if open == "" {
		return
	}
	for i, l := range f.Listeners {
		if l.Auth || l.AllowOpenProxy || isLoopback(l.Address) || l.TLS != nil && l.TLS.ClientCA != "" {
			continue
		}
		why := fmt.Sprintf("rule %q", open)
		if strings.Contains(open, ", ") {
			why = fmt.Sprintf("rules %s (together)", open)
		}
		if open == "default" {
			why = `acl.default = "allow"`
		}
		report(fmt.Sprintf("listener[%d].address", i), fmt.Sprintf(
			"%s is reachable from other hosts, has no auth, and %s lets anonymous clients from any address through: "+
				"ferry would be an open proxy. Set auth = true on this listener, or limit the allow rules to your "+
				"clients (client = [\"10.0.0.0/8\"]), or set allow_open_proxy = true on it if an open proxy is what you want",
			l.Address, why))
	}
}
