package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// checkHostPort checks the form of a listen address: host:port, the host
// possibly empty (every interface), the port 0 (any free one) to 65535.
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bad address %q: want host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("bad port in %q", addr)
	}
	if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /\\") {
		return fmt.Errorf("bad host in %q", addr)
	}
	return nil
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
