package tunnel

import (
	"strconv"
	"strings"
)

// HTTPStatusFor is the HTTP status ferry answers an RFC 9209 error type
// with, read from the one status table; 0 for a type not in it. The
// access log uses it to give SOCKS records an HTTP status (Squid format).
func HTTPStatusFor(proxyStatus string) int {
	for _, row := range status {
		if row.proxyStatus != "" && row.proxyStatus == proxyStatus {
			return row.http
		}
	}
	return 0
}

// ProxyStatus is ferry's Proxy-Status member for err (RFC 9209 §2): the
// error type of err's kind, err's text as details and, when an upstream
// failed or reported the failure, next-hop and received-status (§2.1.2,
// §2.1.4); "" for a kind without an error type.
func ProxyStatus(err error) string {
	ps := KindOf(err).ProxyStatus()
	if ps == "" {
		return ""
	}
	m := ProxyStatusMember(ps, err.Error())
	hop, received := NextHopOf(err)
	if hop == "" {
		return m
	}
	var b strings.Builder
	b.WriteString(m)
	b.WriteString(`; next-hop=`)
	sfString(&b, hop, 64)
	if received > 0 {
		b.WriteString("; received-status=")
		b.WriteString(strconv.Itoa(received))
	}
	return b.String()
}

// ProxyStatusMember formats a Proxy-Status member for ferry with an
// error type and details, a structured-field string: printable ASCII,
// quotes escaped, at most 256 bytes.
func ProxyStatusMember(errType, details string) string {
	var b strings.Builder
	b.WriteString(`ferry; error=`)
	b.WriteString(errType)
	b.WriteString(`; details=`)
	sfString(&b, details, 256)
	return b.String()
}

// sfString writes the first max bytes of s as an RFC 8941 §3.3.3 string.
func sfString(b *strings.Builder, s string, max int) {
	b.WriteByte('"')
	for i := 0; i < len(s) && i < max; i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
