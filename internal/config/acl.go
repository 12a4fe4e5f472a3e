package config

import (
	"fmt"

	"github.com/BurntSushi/toml"
	"github.com/ferry-proxy/ferry"
	"github.com/ferry-proxy/ferry/acl"
)

// defaultACL is the [acl] table of the embedded config.toml.example. A
// file without an [acl] table gets it, so a minimal config is as safe as
// the documented one; a file with one gets exactly what it says.
func defaultACL() acl.Config {
	var d struct {
		ACL acl.Config `toml:"acl"`
	}
	if _, err := toml.Decode(string(ferry.DefaultConfig), &d); err != nil {
		panic("config.toml.example: " + err.Error()) // a build-time bug, caught by the tests
	}
	return d.ACL
}

// checkAuth checks the listeners' auth settings against the users.
func (f *File) checkAuth(report func(key, msg string)) {
	for i, l := range f.Listeners {
		key := fmt.Sprintf("listener[%d]", i)
		if l.Auth && !f.Auth.HasUsers() {
			report(key+".auth", "auth = true but there are no users: set auth.htpasswd or add [[auth.user]]")
		}
		if l.SOCKS4Auth && !l.Auth {
			report(key+".socks4_auth", "socks4_auth only means something with auth = true")
		}
	}
}

// checkOpenProxy refuses a listener that anyone who can reach it may use:
// on an address other than loopback, without auth, while some allow rule
// (or the default) lets an anonymous client from any address through.
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
