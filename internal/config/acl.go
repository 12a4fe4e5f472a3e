package config

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/BurntSushi/toml"
	"github.com/ferry-proxy/ferry"
	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/auth"
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

// validateACL checks the [acl] and [auth] tables and the listeners' auth
// settings, and refuses an open proxy.
func (f *File) validateACL() []problem {
	var ps []problem
	add := func(key, format string, args ...any) {
		ps = append(ps, problem{key, fmt.Sprintf(format, args...)})
	}
	// Lists are not read here (the policy build does), only the rules.
	if _, err := acl.Compile(f.ACL, acl.Env{Groups: f.Auth.Groups}); err != nil {
		for _, e := range err.(acl.Errors) {
			add("acl."+e.Key, "%s", e.Msg)
		}
	}
	names := map[string]bool{}
	for i, u := range f.Auth.Users {
		key := fmt.Sprintf("auth.user[%d]", i)
		switch {
		case u.Name == "":
			add(key+".name", "every user needs a name")
		case names[u.Name]:
			add(key+".name", "user %q defined twice", u.Name)
		}
		names[u.Name] = true
		if err := auth.CheckHash(u.Bcrypt); err != nil {
			add(key+".bcrypt", "%v", err)
		}
	}
	if f.Auth.CacheTTL < 0 {
		add("auth.cache_ttl", "must not be negative")
	}
	for g, members := range f.Auth.Groups {
		if len(members) == 0 {
			add("auth.groups."+g, "group %q has no members", g)
		}
	}
	hasUsers := f.Auth.Htpasswd != "" || len(f.Auth.Users) > 0
	for i, l := range f.Listeners {
		key := fmt.Sprintf("listener[%d]", i)
		if l.Auth && !hasUsers {
			add(key+".auth", "auth = true but there are no users: set auth.htpasswd or add [[auth.user]]")
		}
		if l.SOCKS4Auth && !l.Auth {
			add(key+".socks4_auth", "socks4_auth only means something with auth = true")
		}
	}
	return append(ps, f.checkOpenProxy()...)
}

// checkOpenProxy refuses a listener that anyone who can reach it may use:
// on an address other than loopback, without auth, while some allow rule
// (or the default) lets an anonymous client from any address through.
func (f *File) checkOpenProxy() []problem {
	p, err := acl.Compile(f.ACL, acl.Env{Groups: f.Auth.Groups})
	if err != nil {
		return nil // reported by validateACL
	}
	open := p.OpenRule()
	if open == "" {
		return nil
	}
	var ps []problem
	for i, l := range f.Listeners {
		if l.Auth || l.AllowOpenProxy || isLoopback(l.Address) || l.TLS != nil && l.TLS.ClientCA != "" {
			continue
		}
		why := fmt.Sprintf("rule %q", open)
		if open == "default" {
			why = `acl.default = "allow"`
		}
		ps = append(ps, problem{fmt.Sprintf("listener[%d].address", i), fmt.Sprintf(
			"%s is reachable from other hosts, has no auth, and %s lets anonymous clients from any address through: "+
				"ferry would be an open proxy. Set auth = true on this listener, or limit the allow rules to your "+
				"clients (client = [\"10.0.0.0/8\"]), or set allow_open_proxy = true on it if an open proxy is what you want",
			l.Address, why)})
	}
	return ps
}

// isLoopback reports whether a listen address accepts only local clients.
// An empty host (every interface) and names other than localhost do not.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
