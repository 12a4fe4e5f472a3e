package tunnel_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/ferry-proxy/ferry/tunnel"
)

// dialErr is err as net.Dialer returns it: *net.OpError around
// *os.SyscallError around the errno.
func dialErr(errno syscall.Errno) error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "some timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestKindOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want tunnel.Kind
	}{
		{"nil", nil, tunnel.OK},
		{"ECONNREFUSED", dialErr(syscall.ECONNREFUSED), tunnel.Refused},
		{"ENETUNREACH", dialErr(syscall.ENETUNREACH), tunnel.NetUnreachable},
		{"EHOSTUNREACH", dialErr(syscall.EHOSTUNREACH), tunnel.HostUnreachable},
		{"EHOSTDOWN", dialErr(syscall.EHOSTDOWN), tunnel.HostUnreachable},
		{"ETIMEDOUT", dialErr(syscall.ETIMEDOUT), tunnel.Timeout},
		{"wrapped twice", fmt.Errorf("dial x: %w", fmt.Errorf("y: %w", dialErr(syscall.ECONNREFUSED))), tunnel.Refused},
		{"dns not found", &net.DNSError{Err: "no such host", Name: "a.invalid", IsNotFound: true}, tunnel.DNSFailed},
		{"dns server failure", &net.DNSError{Err: "server misbehaving", Name: "a.example", IsTemporary: true}, tunnel.DNSFailed},
		{"dns timeout", &net.DNSError{Err: "i/o timeout", Name: "a.example", IsTimeout: true}, tunnel.Timeout},
		{"dns inside OpError", &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", IsNotFound: true}}, tunnel.DNSFailed},
		{"context deadline", context.DeadlineExceeded, tunnel.Timeout},
		{"os deadline", fmt.Errorf("read: %w", os.ErrDeadlineExceeded), tunnel.Timeout},
		{"net.Error timeout", &net.OpError{Op: "dial", Err: timeoutErr{}}, tunnel.Timeout},
		{"tunnel.Error", &tunnel.Error{Kind: tunnel.Denied, Rule: "r1"}, tunnel.Denied},
		{"tunnel.Error wrapped", fmt.Errorf("open: %w", tunnel.Errorf(tunnel.BadRequest, "bad %s", "x")), tunnel.BadRequest},
		// The Kind decided where the cause was known wins over the errno.
		{"tunnel.Error around errno", &tunnel.Error{Kind: tunnel.DeniedIP, Err: dialErr(syscall.ECONNREFUSED)}, tunnel.DeniedIP},
		// Never by message text.
		{"message only", errors.New("connect: connection refused"), tunnel.BadGateway},
		{"EOF", io.EOF, tunnel.BadGateway},
		{"unknown CA", fmt.Errorf("tls: %w", x509.UnknownAuthorityError{}), tunnel.TLSCertificate},
		{"verification", &tls.CertificateVerificationError{Err: x509.HostnameError{Host: "a"}}, tunnel.TLSCertificate},
		{"not TLS", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, tunnel.TLSFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tunnel.KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf(%v) = %v (%d), want %v (%d)", tt.err, got, got, tt.want, tt.want)
			}
		})
	}
}

func TestRuleOf(t *testing.T) {
	err := fmt.Errorf("x: %w", &tunnel.Error{Kind: tunnel.Denied, Rule: "block-ads"})
	if got := tunnel.RuleOf(err); got != "block-ads" {
		t.Errorf("RuleOf = %q, want block-ads", got)
	}
	if got := tunnel.RuleOf(io.EOF); got != "" {
		t.Errorf("RuleOf(EOF) = %q, want empty", got)
	}
}

// The reply table as the issue and STYLE.md state it; a change to
// status.go that breaks a client-visible code fails here.
func TestStatusTable(t *testing.T) {
	tests := []struct {
		kind   tunnel.Kind
		http   int
		socks5 byte
		socks4 byte
		ps     string
	}{
		{tunnel.OK, 200, 0x00, 90, ""},
		{tunnel.Denied, 403, 0x02, 91, "http_request_denied"},
		{tunnel.DeniedIP, 403, 0x02, 91, "destination_ip_prohibited"},
		{tunnel.AuthNeeded, 407, 0x02, 93, ""},
		{tunnel.DNSFailed, 502, 0x04, 91, "dns_error"},
		{tunnel.Refused, 502, 0x05, 91, "connection_refused"},
		{tunnel.NetUnreachable, 502, 0x03, 91, "destination_ip_unroutable"},
		{tunnel.HostUnreachable, 502, 0x04, 91, "destination_ip_unroutable"},
		{tunnel.Timeout, 504, 0x04, 91, "connection_timeout"},
		{tunnel.BadRequest, 400, 0x01, 91, "http_request_error"},
		{tunnel.Internal, 500, 0x01, 91, "proxy_internal_error"},
		{tunnel.UpstreamAuth, 502, 0x01, 91, "proxy_configuration_error"},
		{tunnel.UpstreamFailed, 502, 0x01, 91, "destination_unavailable"},
		{tunnel.TLSCertificate, 502, 0x01, 91, "tls_certificate_error"},
		{tunnel.TLSFailed, 502, 0x01, 91, "tls_protocol_error"},
		{tunnel.Expectation, 417, 0x01, 91, "http_request_error"},
		{tunnel.ResponseTimeout, 504, 0x04, 91, "http_response_timeout"},
		{tunnel.Kind(200), 500, 0x01, 91, "proxy_internal_error"}, // out of range: a bug, not a panic
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			k := tt.kind
			if k.HTTPStatus() != tt.http || k.SOCKS5Reply() != tt.socks5 || k.SOCKS4Reply() != tt.socks4 || k.ProxyStatus() != tt.ps {
				t.Errorf("kind %d = %d/%#x/%d/%q, want %d/%#x/%d/%q", k,
					k.HTTPStatus(), k.SOCKS5Reply(), k.SOCKS4Reply(), k.ProxyStatus(),
					tt.http, tt.socks5, tt.socks4, tt.ps)
			}
		})
	}
}
