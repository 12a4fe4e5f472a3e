package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/internal/pac"
)

// Admin is the [admin] table: the admin listener (health, metrics, pprof,
// PAC). It is off unless Address is set.
type Admin struct {
	Address          string `toml:"address"`            // host:port; default "": off
	AllowNonLoopback bool   `toml:"allow_non_loopback"` // default false: a non-loopback address is refused
	Pprof            *bool  `toml:"pprof"`              // /debug/pprof/; default true
}

// Access-log destinations and formats ([log] access, access_format).
const (
	AccessStderr = "stderr"
	FormatJSON   = "json"
	FormatSquid  = "squid"
)

func (f *File) fillOpsDefaults() {
	if f.Log.Access == "" {
		f.Log.Access = AccessStderr
	}
	if f.Log.AccessFormat == "" {
		f.Log.AccessFormat = FormatJSON
		if f.Log.Format == "console" {
			f.Log.AccessFormat = "console"
		}
	}
	if f.Admin.Pprof == nil {
		f.Admin.Pprof = boolPtr(true)
	}
	if f.PAC.PlainHostsDirect == nil {
		f.PAC.PlainHostsDirect = boolPtr(true)
	}
	if f.PAC.Direct == nil {
		f.PAC.Direct = []string{}
	}
}

func boolPtr(b bool) *bool { return &b }

// validateOps checks [admin], [pac] and the access-log keys of [log].
func (f *File) validateOps() []problem {
	var ps []problem
	add := func(key, format string, args ...any) {
		ps = append(ps, problem{key, fmt.Sprintf(format, args...)})
	}
	for i, l := range f.Listeners {
		if l.Name == "admin" {
			add(fmt.Sprintf("listener[%d].name", i), "\"admin\" names the admin listener in logs and metrics; choose another name")
		}
	}
	if strings.TrimSpace(f.Log.Access) != f.Log.Access || strings.ContainsAny(f.Log.Access, "\x00\n") {
		add("log.access", "must be \"stderr\" or a file path, not %q", f.Log.Access)
	}
	if f.Log.AccessFlush < 0 || f.Log.AccessFlush > time.Minute {
		add("log.access_flush", "must be between 0s (each line at once) and 1m, not %v", f.Log.AccessFlush)
	}
	switch f.Log.AccessFormat {
	case "json", "console", "squid":
	default:
		add("log.access_format", "must be json, console or squid, not %q", f.Log.AccessFormat)
	}
	if a := f.Admin.Address; a != "" {
		if err := checkHostPort(a); err != nil {
			add("admin.address", "%v", err)
		} else if !f.Admin.AllowNonLoopback && !isLoopback(a) {
			add("admin.address", "%q is not a loopback address: metrics, pprof and readiness are for operators; "+
				"use 127.0.0.1 or ::1, or set admin.allow_non_loopback = true behind a firewall", a)
		} else if l := f.sharesProxyPort(a); l != "" {
			add("admin.address", "%q is the port of listener %q: the admin listener never shares the proxy port", a, l)
		}
	}
	_, errs := pac.ParseDirect(f.PAC.Direct)
	for _, e := range errs {
		add(fmt.Sprintf("pac.direct[%d]", e.Index), "%v", e.Err)
	}
	if a := f.PAC.ProxyAddress; a != "" {
		if err := pac.CheckProxyAddress(a); err != nil {
			add("pac.proxy_address", "%v", err)
		}
	}
	return ps
}

// sharesProxyPort names the listener whose port addr would take: the same
// port on an address both would bind (see bindAddrs), or on all
// addresses. Port 0 (any free port) never does.
func (f *File) sharesProxyPort(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if port == "0" {
		return ""
	}
	for _, l := range f.Listeners {
		lh, lp, err := net.SplitHostPort(l.Address)
		if err != nil || lp != port {
			continue
		}
		if overlap(lh, host) {
			return l.Name
		}
	}
	return ""
}

// overlap reports whether listening on hosts a and b, on one port, would
// clash: either is every address, or they share one. Spelled differently
// ("localhost" and "127.0.0.1", "::ffff:127.0.0.1") they still clash, and
// ferry would fail to bind at start after check passed.
func overlap(a, b string) bool {
	if unspecified(a) || unspecified(b) {
		return true
	}
	for _, x := range bindAddrs(a) {
		for _, y := range bindAddrs(b) {
			if x == y {
				return true
			}
		}
	}
	return false
}

// bindAddrs is what a listen host may stand for, without DNS: an address
// itself (unmapped, zone dropped), localhost both loopback addresses (it
// may resolve to either), any other name itself, in lower case.
func bindAddrs(host string) []string {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []string{ip.Unmap().WithZone("").String()}
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" {
		return []string{"127.0.0.1", "::1"}
	}
	return []string{host}
}

func unspecified(host string) bool {
	ip, err := netip.ParseAddr(host)
	return host == "" || err == nil && ip.IsUnspecified()
}
