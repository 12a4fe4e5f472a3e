package tunnel_test

import (
	"testing"

	"github.com/ferry-proxy/ferry/tunnel"
)

// rfc9209 are the error types of RFC 9209 §2.3.
var rfc9209 = map[string]bool{
	"dns_timeout": true, "dns_error": true, "destination_not_found": true, "destination_unavailable": true,
	"destination_ip_prohibited": true, "destination_ip_unroutable": true, "connection_refused": true,
	"connection_terminated": true, "connection_timeout": true, "connection_read_timeout": true,
	"connection_write_timeout": true, "connection_limit_reached": true, "tls_protocol_error": true,
	"tls_certificate_error": true, "tls_alert_received": true, "http_request_error": true,
	"http_request_denied": true, "http_response_incomplete": true, "http_response_header_section_size": true,
	"http_response_header_size": true, "http_response_body_size": true, "http_response_trailer_section_size": true,
	"http_response_trailer_size": true, "http_response_transfer_coding": true, "http_response_content_coding": true,
	"http_response_timeout": true, "http_upgrade_failed": true, "http_protocol_error": true,
	"proxy_internal_response": true, "proxy_internal_error": true, "proxy_configuration_error": true,
	"proxy_loop_detected": true,
}

// Every kind has a name, an HTTP error status, a SOCKS5 reply from RFC
// 1928 §6 and, when it has one, an RFC 9209 error type.
func TestStatusTypesAreRFC9209(t *testing.T) {
	for k := tunnel.Denied; k <= tunnel.ResponseTimeout; k++ { // the last kind
		if k.String() == "" || k.HTTPStatus() < 400 || k.HTTPStatus() > 599 || k.SOCKS5Reply() > 0x08 || k.SOCKS5Reply() == 0 {
			t.Errorf("kind %d: %q %d %#x", k, k, k.HTTPStatus(), k.SOCKS5Reply())
		}
		if ps := k.ProxyStatus(); ps != "" && !rfc9209[ps] {
			t.Errorf("kind %v: Proxy-Status %q is not an RFC 9209 error type", k, ps)
		}
	}
	if k := tunnel.ResponseTimeout + 1; k.String() != tunnel.Internal.String() {
		t.Errorf("a kind past the table reads as %q, want internal", k)
	}
}
