package tunnel

import "net/http"

// Kind classifies why a request failed. Front ends map it to a reply with
// the methods below and never choose a code themselves.
type Kind uint8

// The kinds of failure. OK is the zero value: no failure.
const (
	OK              Kind = iota
	Denied               // the ACL denied the name, port, user or client
	DeniedIP             // the ACL denied every address the name resolved to
	AuthNeeded           // credentials missing or wrong
	DNSFailed            // the name did not resolve
	Refused              // the target refused the connection
	NetUnreachable       // no route to the network
	HostUnreachable      // no route to the host
	Timeout              // the dial (or the upstream) did not answer in time
	BadRequest           // the client sent something we cannot parse or serve
	BadGateway           // the origin or upstream answered something unusable
	Internal             // a bug in ferry
	Overloaded           // a connection cap of ferry's own was reached
	Unavailable          // every backend of a reverse route is down
	NoRoute              // no reverse route for the name (or port) asked for
	UpstreamAuth         // an upstream proxy refused ferry's own credentials (407, SOCKS auth)
	UpstreamFailed       // an upstream proxy answered with a failure of its own (5xx, SOCKS 0x01)
	TLSCertificate       // the next hop's certificate did not verify
	TLSFailed            // the TLS handshake with the next hop failed otherwise
	TooLarge             // the request head is larger than max_header_bytes
	BadVersion           // the request is not HTTP/1.x
	BadCoding            // the request has a transfer coding other than chunked
	Loop                 // the next hop is ferry itself
	RequestTimeout       // the client stopped sending its request body
	URITooLong           // the request line is longer than max_header_bytes
	Throttled            // a login refused unchecked: too many failures or checks at once (limiter.go)
	Limited              // over a [[limit]]: tunnels at once, requests per window, bytes per period (limits.go)
	Expectation          // the request's Expect asks for something ferry cannot meet
	ResponseTimeout      // an upstream reached the origin but had no response from it in time
)

type statusRow struct {
	name        string
	http        int
	socks5      byte
	socks4      byte
	proxyStatus string // RFC 9209 error type; "" when none applies
}

// status is the only table of replies in ferry.
var status = [...]statusRow{
	OK:              {"ok", http.StatusOK, 0x00, 90, ""},
	Denied:          {"denied", http.StatusForbidden, 0x02, 91, "http_request_denied"},
	DeniedIP:        {"denied", http.StatusForbidden, 0x02, 91, "destination_ip_prohibited"},
	AuthNeeded:      {"auth_needed", http.StatusProxyAuthRequired, 0x02, 93, ""},
	DNSFailed:       {"dns_failed", http.StatusBadGateway, 0x04, 91, "dns_error"},
	Refused:         {"refused", http.StatusBadGateway, 0x05, 91, "connection_refused"},
	NetUnreachable:  {"unreachable", http.StatusBadGateway, 0x03, 91, "destination_ip_unroutable"},
	HostUnreachable: {"unreachable", http.StatusBadGateway, 0x04, 91, "destination_ip_unroutable"},
	Timeout:         {"timeout", http.StatusGatewayTimeout, 0x04, 91, "connection_timeout"},
	BadRequest:      {"bad_request", http.StatusBadRequest, 0x01, 91, "http_request_error"},
	BadGateway:      {"bad_gateway", http.StatusBadGateway, 0x01, 91, "http_protocol_error"},
	Internal:        {"internal", http.StatusInternalServerError, 0x01, 91, "proxy_internal_error"},
	// RFC 9209 §2.3.12 speaks of the next hop's limit; it is the nearest
	// type for a cap ferry puts on its own clients.
	Overloaded: {"overloaded", http.StatusServiceUnavailable, 0x01, 91, "connection_limit_reached"},
	// §2.3.4: "a health check may indicate that it is down".
	Unavailable: {"unavailable", http.StatusServiceUnavailable, 0x01, 91, "destination_unavailable"},
	// §2.3.3 "cannot determine the appropriate next hop"; 421 Misdirected
	// Request (RFC 9110 §15.5.20) is the HTTP answer to a name not served.
	NoRoute: {"no_route", http.StatusMisdirectedRequest, 0x04, 91, "destination_not_found"},
	// §2.3.31: the credentials ferry was configured with for the upstream
	// were refused; the client's own are not in question, so not a 407.
	UpstreamAuth: {"upstream_auth", http.StatusBadGateway, 0x01, 91, "proxy_configuration_error"},
	// §2.3.4: the next hop (the upstream) is taken to be unavailable; the
	// Proxy-Status member adds next-hop and received-status (§2.1.2,
	// §2.1.4). 502, not the 503 the RFC suggests: for the client a failed
	// next hop is a bad gateway, as for every other dial failure (issue 5).
	UpstreamFailed: {"upstream_failed", http.StatusBadGateway, 0x01, 91, "destination_unavailable"},
	TLSCertificate: {"tls_certificate", http.StatusBadGateway, 0x01, 91, "tls_certificate_error"}, // §2.3.14
	TLSFailed:      {"tls_failed", http.StatusBadGateway, 0x01, 91, "tls_protocol_error"},         // §2.3.13
	// RFC 6585 §5; RFC 9209 has no type of its own for a request too large.
	TooLarge: {"too_large", http.StatusRequestHeaderFieldsTooLarge, 0x01, 91, "http_request_error"},
	// RFC 9110 §15.6.6; RFC 9209 §2.3.19 (a request ferry cannot serve).
	BadVersion: {"bad_version", http.StatusHTTPVersionNotSupported, 0x01, 91, "http_request_error"},
	// RFC 9112 §6.1: a transfer coding the server does not understand
	// SHOULD get 501 (RFC 9110 §15.6.2); ferry, as net/http, knows chunked.
	BadCoding: {"bad_coding", http.StatusNotImplemented, 0x01, 91, "http_request_error"},
	// RFC 9209 §2.3.20; 508 Loop Detected (RFC 5842 §7.2).
	Loop: {"loop", http.StatusLoopDetected, 0x01, 91, "proxy_loop_detected"},
	// RFC 9110 §15.5.9; RFC 9209 has no type for a client's silence.
	RequestTimeout: {"request_timeout", http.StatusRequestTimeout, 0x01, 91, "http_request_error"},
	// RFC 9112 §3: a request-target longer than the server will parse.
	URITooLong: {"uri_too_long", http.StatusRequestURITooLong, 0x01, 91, "http_request_error"},
	// RFC 6585 §4, with Retry-After (RFC 9110 §10.2.3); not 407, which
	// would say the credentials are wrong (they were not checked) and make
	// browsers ask for them again. RFC 9209 §2.3.24: refused by policy.
	// SOCKS4 91, not 93: the user id is not known to be wrong.
	Throttled: {"throttled", http.StatusTooManyRequests, 0x02, 91, "http_request_denied"},
	// RFC 6585 §4 with Retry-After, as Throttled; the details name the
	// limit. SOCKS5 0x02, "connection not allowed by ruleset" (RFC 1928
	// §6): the [[limit]] rules are rules.
	Limited: {"limited", http.StatusTooManyRequests, 0x02, 91, "http_request_denied"},
	// RFC 9110 §10.1.1, §15.5.18: an expectation other than 100-continue.
	Expectation: {"expectation_failed", http.StatusExpectationFailed, 0x01, 91, "http_request_error"},
	// RFC 9209 §2.3.26, as an upstream reports it (squid's
	// ERR_READ_TIMEOUT); a timeout of ferry's own is Timeout.
	ResponseTimeout: {"response_timeout", http.StatusGatewayTimeout, 0x04, 91, "http_response_timeout"},
}

func (k Kind) row() statusRow {
	if int(k) < len(status) {
		return status[k]
	}
	return status[Internal]
}

// String names the kind for logs.
func (k Kind) String() string { return k.row().name }

// HTTPStatus is the status code an HTTP front end answers with.
func (k Kind) HTTPStatus() int { return k.row().http }

// SOCKS5Reply is the REP field of a SOCKS5 reply (RFC 1928 §6).
func (k Kind) SOCKS5Reply() byte { return k.row().socks5 }

// SOCKS4Reply is the CD field of a SOCKS4 reply: 90 granted, 91 rejected,
// 93 rejected because the user id did not authenticate.
func (k Kind) SOCKS4Reply() byte { return k.row().socks4 }

// ProxyStatus is the RFC 9209 error type, or "" when none applies.
func (k Kind) ProxyStatus() string { return k.row().proxyStatus }
