package socks

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// SOCKS5 constants (RFC 1928, RFC 1929).
const (
	version5 = 0x05
	version4 = 0x04

	methodNoAuth       = 0x00
	methodUserPass     = 0x02
	methodNoAcceptable = 0xFF

	cmdConnect   = 0x01
	cmdBind      = 0x02
	cmdAssociate = 0x03

	atypIPv4   = 0x01
	atypDomain = 0x03
	atypIPv6   = 0x04

	repSucceeded        = 0x00
	repGeneralFailure   = 0x01
	repCmdNotSupported  = 0x07
	repAddrNotSupported = 0x08

	socks4Granted  = 90
	socks4Rejected = 91
)

// errMalformed means the peer broke the protocol; the conn is closed
// without a reply, since there is no well-formed one to give.
var errMalformed = errors.New("socks: malformed message")

// request5 is a parsed SOCKS5 request.
type request5 struct {
	cmd  byte
	host string // IP literal or domain name as sent
	port uint16
}

// readGreeting reads a SOCKS5 method selection message after the version
// byte: NMETHODS and the methods.
func readGreeting(r io.Reader) (methods []byte, err error) {
	var n [1]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	if n[0] == 0 {
		return nil, fmt.Errorf("%w: no methods offered", errMalformed)
	}
	methods = make([]byte, n[0])
	if _, err := io.ReadFull(r, methods); err != nil {
		return nil, err
	}
	return methods, nil
}

// readRequest5 reads VER CMD RSV ATYP DST.ADDR DST.PORT. An unknown
// address type yields reply 0x08 in rep; a framing error yields err.
func readRequest5(r io.Reader) (req request5, rep byte, err error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return req, 0, err
	}
	if h[0] != version5 {
		return req, 0, fmt.Errorf("%w: request version %d", errMalformed, h[0])
	}
	req.cmd = h[1]
	switch h[3] {
	case atypIPv4:
		var a [4]byte
		if _, err := io.ReadFull(r, a[:]); err != nil {
			return req, 0, err
		}
		req.host = netip.AddrFrom4(a).String()
	case atypIPv6:
		var a [16]byte
		if _, err := io.ReadFull(r, a[:]); err != nil {
			return req, 0, err
		}
		req.host = netip.AddrFrom16(a).String()
	case atypDomain:
		var n [1]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return req, 0, err
		}
		name := make([]byte, n[0])
		if _, err := io.ReadFull(r, name); err != nil {
			return req, 0, err
		}
		req.host = string(name)
	default:
		return req, repAddrNotSupported, nil
	}
	var p [2]byte
	if _, err := io.ReadFull(r, p[:]); err != nil {
		return req, 0, err
	}
	req.port = binary.BigEndian.Uint16(p[:])
	return req, repSucceeded, nil
}

// appendReply5 appends a SOCKS5 reply with bound address bnd (the zero
// AddrPort gives 0.0.0.0:0).
func appendReply5(b []byte, rep byte, bnd netip.AddrPort) []byte {
	b = append(b, version5, rep, 0x00)
	ip := bnd.Addr().Unmap()
	switch {
	case ip.Is6():
		b = append(b, atypIPv6)
		a := ip.As16()
		b = append(b, a[:]...)
	case ip.Is4():
		b = append(b, atypIPv4)
		a := ip.As4()
		b = append(b, a[:]...)
	default:
		b = append(b, atypIPv4, 0, 0, 0, 0)
	}
	return binary.BigEndian.AppendUint16(b, bnd.Port())
}

// request4 is a parsed SOCKS4 or SOCKS4a request.
type request4 struct {
	cmd    byte
	host   string
	port   uint16
	userID string
}

// maxSOCKS4Field bounds the NUL-terminated USERID and 4a host name.
const maxSOCKS4Field = 255

// readRequest4 reads a SOCKS4 request after the version byte:
// CD DSTPORT DSTIP USERID NUL [HOST NUL when DSTIP is 0.0.0.x, x ≠ 0].
func readRequest4(r io.Reader) (req request4, err error) {
	var h [7]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return req, err
	}
	req.cmd = h[0]
	req.port = binary.BigEndian.Uint16(h[1:3])
	ip := netip.AddrFrom4([4]byte(h[3:7]))
	if req.userID, err = readCString(r); err != nil {
		return req, err
	}
	if h[3] == 0 && h[4] == 0 && h[5] == 0 && h[6] != 0 { // SOCKS4a
		if req.host, err = readCString(r); err != nil {
			return req, err
		}
		if req.host == "" {
			return req, fmt.Errorf("%w: empty SOCKS4a host", errMalformed)
		}
	} else {
		req.host = ip.String()
	}
	return req, nil
}

// readCString reads a NUL-terminated string of at most maxSOCKS4Field
// bytes, one byte at a time so nothing past the NUL is consumed.
func readCString(r io.Reader) (string, error) {
	var buf [maxSOCKS4Field]byte
	var b [1]byte
	for i := 0; ; i++ {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return "", err
		}
		if b[0] == 0 {
			return string(buf[:i]), nil
		}
		if i == len(buf) {
			return "", fmt.Errorf("%w: field longer than %d bytes", errMalformed, maxSOCKS4Field)
		}
		buf[i] = b[0]
	}
}

func reply4(cd byte) []byte { return []byte{0x00, cd, 0, 0, 0, 0, 0, 0} }
