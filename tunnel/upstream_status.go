package tunnel

import (
	"strconv"
	"strings"
)

// lastProxyStatusError reads the Proxy-Status field lines of an upstream's
// answer (RFC 9209 §2: a Structured Fields list, RFC 8941 §3.1, of
// intermediaries, the one nearest the client last) and returns the error
// type and details of the last member that has an error: the upstream's
// own verdict on why it failed. A malformed field yields what was read
// before the fault; the input is bounded by the head it came in.
func lastProxyStatusError(lines []string) (errType, details string) {
	for _, line := range lines {
		p := sfParser{s: line}
		for {
			e, d, ok := p.member()
			if e != "" {
				errType, details = e, d
			}
			if !ok {
				break
			}
			p.ows()
			if !p.eat(',') {
				break
			}
		}
	}
	return errType, details
}

// sfParser walks one Structured Fields list, enough of RFC 8941 for
// Proxy-Status: members are a token or string with parameters whose
// values are tokens, strings, integers or booleans.
type sfParser struct {
	s string
	i int
}

func (p *sfParser) ows() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *sfParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// member reads one list member and returns its error and details
// parameters; ok is false when no member could be read.
func (p *sfParser) member() (errType, details string, ok bool) {
	p.ows()
	if _, ok := p.bareItem(); !ok {
		return "", "", false
	}
	for {
		p.ows()
		if !p.eat(';') {
			return errType, details, true
		}
		p.ows()
		key := p.key()
		if key == "" {
			return errType, details, false
		}
		val := ""
		if p.eat('=') {
			v, ok := p.bareItem()
			if !ok {
				return errType, details, false
			}
			val = v
		}
		switch key {
		case "error":
			errType = val
		case "details":
			details = val
		}
	}
}

// key reads a parameter key (RFC 8941 §3.1.2: lcalpha or *, then lcalpha,
// digits, _ - . *).
func (p *sfParser) key() string {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c >= 'a' && c <= 'z' || c == '*' || p.i > start && (c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			p.i++
			continue
		}
		break
	}
	return p.s[start:p.i]
}

// bareItem reads a token, a string, a number or a boolean, returning a
// string's content unescaped and anything else as written.
func (p *sfParser) bareItem() (string, bool) {
	if p.i >= len(p.s) {
		return "", false
	}
	if p.s[p.i] == '"' {
		return p.str()
	}
	start := p.i
	if p.s[p.i] == '?' {
		p.i++
	}
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i], p.i > start
}

// str reads an sf-string (RFC 8941 §3.3.3): printable ASCII, with \" and
// \\ the only escapes.
func (p *sfParser) str() (string, bool) {
	p.i++ // the opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '\\':
			if p.i >= len(p.s) || p.s[p.i] != '"' && p.s[p.i] != '\\' {
				return "", false
			}
			b.WriteByte(p.s[p.i])
			p.i++
		case c == '"':
			return b.String(), true
		case c < 0x20 || c > 0x7e:
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}

// isTokenChar is tchar (RFC 9110 §5.6.2) with ':' and '/' (RFC 8941
// §3.3.4), and '.' for numbers.
func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~:/", c) >= 0
}

// squidErrors are the error pages squid names in X-Squid-Error (its
// errorpage.cc writes "ERR_DNS_FAIL 0": the page, then the errno) with
// the kind of failure each reports: the RFC 9209 error type squid would
// have sent in Proxy-Status, had it sent one. ERR_CONNECT_FAIL is told
// apart by its errno (squidConnectErrnos). Pages not here (squid's own
// trouble: ERR_SOCKET_FAILURE, ERR_SHUTTING_DOWN; a response cut short:
// ERR_READ_ERROR, ERR_ZERO_SIZE_OBJECT, which have no kind of ferry's)
// leave the answer without a cause.
var squidErrors = map[string]Kind{
	"ERR_DNS_FAIL":            DNSFailed,       // dns_error
	"ERR_READ_TIMEOUT":        ResponseTimeout, // http_response_timeout: connected, no response in read_timeout
	"ERR_LIFETIME_EXP":        ResponseTimeout, // the request outlived client_lifetime
	"ERR_CANNOT_FORWARD":      UpstreamFailed,  // destination_unavailable: no way to the origin now
	"ERR_GATEWAY_FAILURE":     UpstreamFailed,
	"ERR_SECURE_CONNECT_FAIL": TLSFailed,  // tls_protocol_error
	"ERR_INVALID_RESP":        BadGateway, // http_protocol_error
}

// squidConnectErrnos are ERR_CONNECT_FAIL's errnos, as Linux numbers
// them (squid prints the one its connect(2) got); another errno, or
// another system's numbers, read as destination_unavailable.
var squidConnectErrnos = map[int]Kind{
	111: Refused,         // ECONNREFUSED: connection_refused
	110: Timeout,         // ETIMEDOUT (squid's connect_timeout too): connection_timeout
	113: HostUnreachable, // EHOSTUNREACH: destination_ip_unroutable
	101: NetUnreachable,  // ENETUNREACH
}

// squidErrorKind reads an X-Squid-Error value; ok false for a page not in
// squidErrors (or no value).
func squidErrorKind(v string) (Kind, bool) {
	page, errno, _ := strings.Cut(strings.TrimSpace(v), " ")
	if page == "ERR_CONNECT_FAIL" {
		n, _ := strconv.Atoi(strings.TrimSpace(errno))
		if k, ok := squidConnectErrnos[n]; ok {
			return k, true
		}
		return UpstreamFailed, true
	}
	k, ok := squidErrors[page]
	return k, ok
}

// clip is s cut to at most n bytes.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
