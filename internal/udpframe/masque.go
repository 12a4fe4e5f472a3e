package udpframe

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// MasquePrefix starts the default URI template of CONNECT-UDP, RFC 9298
// §3: /.well-known/masque/udp/{target_host}/{target_port}/.
const MasquePrefix = "/.well-known/masque/udp/"

// MasquePath is the request path that asks a proxy for UDP to host:port.
// An IPv6 literal goes without brackets, its colons percent-encoded, as
// the template's simple string expansion writes it (RFC 6570 §3.2.2).
func MasquePath(host string, port uint16) string {
	h := strings.ReplaceAll(url.PathEscape(host), ":", "%3A")
	return MasquePrefix + h + "/" + strconv.Itoa(int(port)) + "/"
}

// ParseMasquePath reads the target of a CONNECT-UDP request path: the
// host (percent-decoded; an IPv6 literal without brackets or zone) and a
// non-zero port. ok is false for any other path.
func ParseMasquePath(path string) (host string, port uint16, ok bool) {
	rest, found := strings.CutPrefix(path, MasquePrefix)
	if !found {
		return "", 0, false
	}
	rest = strings.TrimSuffix(rest, "/")
	h, p, found := strings.Cut(rest, "/")
	if !found || h == "" || strings.Contains(p, "/") {
		return "", 0, false
	}
	host, err := url.PathUnescape(h)
	if err != nil || host == "" || strings.ContainsAny(host, "/[]%") {
		return "", 0, false
	}
	if strings.Contains(host, ":") {
		// RFC 9298 §2: IPv6address, without a zone.
		if _, err := netip.ParseAddr(host); err != nil {
			return "", 0, false
		}
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return "", 0, false
	}
	return host, uint16(n), true
}
