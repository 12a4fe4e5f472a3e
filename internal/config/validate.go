package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/internal/tlsfile"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/auth"
	"github.com/ferry-proxy/ferry/connect"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/limit"
	"github.com/ferry-proxy/ferry/reverse"
)

// validate checks every table with its package's Validate, under its
// key; fills the defaults that depend on other tables; checks the
// addresses of all listeners together; and builds what Load builds, once:
// the rules (their lists read), routing, users and block page.
func (f *File) validate(report func(key, msg string)) {
	dir := filepath.Dir(f.Path)
	f.validateListeners(dir, report)
	f.Limits.Config.Validate(under("limits", report))
	f.Limits.Limits.Validate(under("limits", report))
	f.Limits.ForwardLimits.Validate(under("limits", report))
	f.Limits.MuxLimits.Validate(under("limits", report))
	if f.Limits.ShutdownGrace < 0 {
		report("limits.shutdown_grace", "must not be negative")
	}
	f.HTTP.Validate(under("http", report))
	f.HTTP2.Validate(under("http2", report))
	f.Log.validate(under("log", report))
	f.validateAdmin(report)
	f.PAC.Validate(under("pac", report))
	f.validateReverse(dir, report)
	f.Cache.Validate(under("cache", report))
	f.Fleet.Validate(under("fleet", report))
	authOK := true
	f.Auth.Validate(under("auth", func(key, msg string) { authOK = false; report(key, msg) }))
	f.compile(dir, authOK, report)
	f.checkAuth(report)
	f.checkFleetCache(report)
	f.checkOpenProxy(report)
	f.warnRemoteDNS()
}

// validateListeners names the listeners left unnamed and checks them.
func (f *File) validateListeners(dir string, report func(key, msg string)) {
	if len(f.Listeners) == 0 {
		f.Listeners = make([]Listener, 1)
		f.Listeners[0].SetDefaults()
	}
	names := map[string]bool{}
	for i := range f.Listeners {
		l := &f.Listeners[i]
		key := fmt.Sprintf("listener[%d]", i)
		if l.Name == "" {
			l.Name = fmt.Sprintf("listener%d", i)
		}
		switch {
		case names[l.Name]:
			reportf(report, key+".name", "duplicate listener name %q", l.Name)
		case l.Name == "admin":
			report(key+".name", "\"admin\" names the admin listener in logs and metrics; choose another name")
		}
		names[l.Name] = true
		if err := checkHostPort(l.Address); err != nil {
			report(key+".address", err.Error())
		}
		l.ListenerConfig.Validate(dir, under(key, report))
	}
}

func (l *Log) validate(report func(key, msg string)) {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		reportf(report, "level", "must be debug, info, warn or error, not %q", l.Level)
	}
	switch l.Format {
	case accesslog.FormatJSON, accesslog.FormatConsole:
	default:
		reportf(report, "format", "must be json or console, not %q", l.Format)
	}
	if l.Config.Format == "" { // as the server log's
		l.Config.Format = accesslog.FormatJSON
		if l.Format == accesslog.FormatConsole {
			l.Config.Format = accesslog.FormatConsole
		}
	}
	l.Config.Validate(report)
}

// validateAdmin checks [admin]'s address: loopback unless allowed, and
// never a proxy listener's port.
func (f *File) validateAdmin(report func(key, msg string)) {
	a := f.Admin.Address
	if a == "" {
		return
	}
	if err := checkHostPort(a); err != nil {
		report("admin.address", err.Error())
	} else if !f.Admin.AllowNonLoopback && !isLoopback(a) {
		reportf(report, "admin.address", "%q is not a loopback address: metrics, pprof and readiness are for operators; "+
			"use 127.0.0.1 or ::1, or set admin.allow_non_loopback = true behind a firewall", a)
	} else if l := f.sharesProxyPort(a); l != "" {
		reportf(report, "admin.address", "%q is the port of listener %q: the admin listener never shares the proxy port", a, l)
	}
}

// validateReverse gives the reverse listeners limits.handshake_timeout
// where they set none, makes the files their routes name relative to
// dir (as every other file the config names), checks their addresses
// against each other and the front listeners', and the rest with
// reverse's Validate.
func (f *File) validateReverse(dir string, report func(key, msg string)) {
	front := map[string]bool{}
	for _, l := range f.Listeners {
		front[l.Address] = true
	}
	addrs := map[string]bool{}
	for i := range f.Reverse {
		l := &f.Reverse[i]
		key := fmt.Sprintf("reverse[%d].address", i)
		if l.HandshakeTimeout == 0 {
			l.HandshakeTimeout = f.Limits.HandshakeTimeout
		}
		switch err := checkHostPort(l.Address); {
		case l.Address == "":
			report(key, "required: the host:port clients connect to")
		case err != nil:
			report(key, err.Error())
		case (addrs[l.Address] || front[l.Address]) && !strings.HasSuffix(l.Address, ":0"):
			reportf(report, key, "%s is already used by another listener", l.Address)
		}
		addrs[l.Address] = true // ":0" may repeat: each bind gets its own port
		for j := range l.Routes {
			r := &l.Routes[j]
			for k := range r.Certificates {
				c := &r.Certificates[k]
				c.Cert, c.Key = tlsfile.Resolve(dir, c.Cert), tlsfile.Resolve(dir, c.Key)
			}
			if r.BackendCA != "" {
				r.BackendCA = tlsfile.Resolve(dir, r.BackendCA)
			}
		}
	}
	(&reverse.Config{Listeners: f.Reverse}).Validate(report)
}

// compile builds the rules, routing, users and block page, reading the
// files they name relative to dir. Users are read only when [auth]
// itself is good (authOK): a bad hash is reported once.
func (f *File) compile(dir string, authOK bool, report func(key, msg string)) {
	addrs, err := HostAddrs()
	if err != nil && f.namesSelf() {
		report("acl", fmt.Sprintf("reading this host's addresses (ip \"self\"): %v", err))
	}
	f.Self = acl.NewAddrSet(addrs)
	env := acl.Env{Groups: f.Auth.Groups, LoadList: f.listLoader(dir), Self: f.Self}
	rules, err := acl.Compile(f.ACL, env)
	var es acl.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			report("acl."+e.Key, e.Msg)
		}
	}
	f.Rules = rules
	f.RoutingSpec = f.Chain.Compile(dir, env, f.ACL.Timezone, report)
	f.LimitSet = limit.Compile(f.LimitRules, env, f.ACL.Timezone, report)
	if authOK && f.Auth.HasUsers() {
		key, htpasswd := "auth.user", ""
		if f.Auth.Htpasswd != "" {
			key, htpasswd = "auth.htpasswd", tlsfile.Resolve(dir, f.Auth.Htpasswd)
		}
		if f.Users, err = auth.Load(f.Auth, htpasswd); err != nil {
			report(key, err.Error())
		}
	}
	if f.ACL.BlockPage != "" {
		path := tlsfile.Resolve(dir, f.ACL.BlockPage)
		text, err := os.ReadFile(path)
		if err == nil {
			f.BlockPage, err = connect.ParseBlockPage(path, string(text))
		}
		if err != nil {
			report("acl.block_page", err.Error())
		}
	}
}

// namesSelf reports whether a rule or route names ip "self".
func (f *File) namesSelf() bool {
	for _, r := range f.ACL.Rules {
		if slices.Contains(r.IP, acl.Self) || r.Not != nil && slices.Contains(r.Not.IP, acl.Self) {
			return true
		}
	}
	for _, r := range f.Routes {
		if slices.Contains(r.IP, acl.Self) || r.Not != nil && slices.Contains(r.Not.IP, acl.Self) {
			return true
		}
	}
	return false
}

// HostAddrs reads the addresses of this host's interfaces, which
// ip = ["self"] names. A variable, so that tests choose the host's.
var HostAddrs = func() ([]netip.Addr, error) {
	ifas, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	addrs := make([]netip.Addr, 0, len(ifas))
	for _, ifa := range ifas {
		if p, err := netip.ParsePrefix(ifa.String()); err == nil {
			addrs = append(addrs, p.Addr())
		}
	}
	return addrs, nil
}

// listLoader reads a domain list once however many rules and routes name
// it, and notes it in f.Lists.
func (f *File) listLoader(dir string) func(string) (*acl.DomainSet, error) {
	lists := map[string]*acl.DomainSet{}
	return func(path string) (*acl.DomainSet, error) {
		path = tlsfile.Resolve(dir, path)
		if s, ok := lists[path]; ok {
			return s, nil
		}
		start := time.Now()
		s, st, err := acl.LoadList(path)
		if err != nil {
			return nil, err
		}
		f.Lists = append(f.Lists, List{Path: path, Stats: st, Bytes: s.Bytes(), Took: time.Since(start)})
		lists[path] = s
		return s, nil
	}
}

// under prefixes report's keys with key.
func under(key string, report func(key, msg string)) func(string, string) {
	return func(k, msg string) { report(key+"."+k, msg) }
}

// reportf is report with a format.
func reportf(report func(key, msg string), key, format string, args ...any) {
	report(key, fmt.Sprintf(format, args...))
}

// checkFleetCache checks [fleet.cache] against the tables it names: its
// listener exists and takes no PROXY header (the members reach it
// directly), and the cache it shares is on.
func (f *File) checkFleetCache(report func(key, msg string)) {
	cc := &f.Fleet.Cache
	if !cc.Shared() {
		return
	}
	var l *Listener
	for i := range f.Listeners {
		if f.Listeners[i].Name == cc.Listener {
			l = &f.Listeners[i]
		}
	}
	switch {
	case l == nil:
		report("fleet.cache.listener", fmt.Sprintf("no [[listener]] is named %q", cc.Listener))
	case len(l.ProxyProtocolFrom) > 0:
		report("fleet.cache.listener", fmt.Sprintf("listener %q takes PROXY headers: the members reach each other directly, not through the balancer; give them a listener of their own", cc.Listener))
	case l.TLS != nil:
		report("fleet.cache.listener", fmt.Sprintf("listener %q speaks TLS; the members send each other plain HTTP", cc.Listener))
	}
	if !f.Cache.Enabled {
		report("fleet.cache.listener", "sharing the cache needs it on: [cache] enabled = true")
	}
}
