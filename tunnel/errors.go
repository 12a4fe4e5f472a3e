package tunnel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

// Error is a failure with its Kind decided where the cause is known (the
// ACL, the dialer). Errors from the network are classified by KindOf.
type Error struct {
	Kind Kind
	Rule string // the ACL rule that decided, for Denied and DeniedIP
	Err  error

	// NextHop names the upstream proxy that failed or reported the
	// failure, "" for ferry's own dials (RFC 9209 §2.1.2 next-hop).
	NextHop string
	// Received is the status code the upstream answered, 0 when none
	// (RFC 9209 §2.1.4 received-status).
	Received int
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Kind.String()
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of kind k with a formatted message.
func Errorf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Err: fmt.Errorf(format, args...)}
}

// KindOf classifies err once, by type and errno, never by message text.
func KindOf(err error) Kind {
	if err == nil {
		return OK
	}
	var te *Error
	if errors.As(err, &te) {
		return te.Kind
	}
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) || errors.As(err, &invalid) {
		return TLSCertificate
	}
	var recordErr tls.RecordHeaderError
	if errors.As(err, &recordErr) {
		return TLSFailed
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsTimeout {
			return Timeout
		}
		return DNSFailed
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.ENETUNREACH):
		return NetUnreachable
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.EHOSTDOWN):
		return HostUnreachable
	case errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, os.ErrDeadlineExceeded):
		return Timeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Timeout
	}
	return BadGateway
}

// NextHopOf returns the upstream named by err, and the status it
// answered (0 when none), for the Proxy-Status member.
func NextHopOf(err error) (string, int) {
	var te *Error
	if errors.As(err, &te) {
		return te.NextHop, te.Received
	}
	return "", 0
}

// RuleOf returns the ACL rule carried by err, or "".
func RuleOf(err error) string {
	var te *Error
	if errors.As(err, &te) {
		return te.Rule
	}
	return ""
}
