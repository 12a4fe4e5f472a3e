package reverse

import (
	"errors"
	"fmt"
	"strings"
)

// TLS wire constants (RFC 8446 §5.1, §4, §4.2; RFC 6066 §3; RFC 7301 §3.1).
const (
	recordHeaderLen     = 5
	recordTypeHandshake = 22
	recordTypeAlert     = 21
	handshakeClientHelo = 1
	maxRecordPayload    = 1 << 14 // TLSPlaintext.length must not exceed 2^14
	extServerName       = 0
	extALPN             = 16
	sniHostName         = 0

	// MaxHelloPeek bounds how much of a connection is peeked for the
	// ClientHello: one full record (16 KiB plus its header). A ClientHello
	// split over several records is reassembled only within this bound.
	MaxHelloPeek = recordHeaderLen + maxRecordPayload
)

// Errors of ParseClientHello.
var (
	ErrNotTLS         = errors.New("not a TLS handshake")
	ErrMalformedHello = errors.New("malformed ClientHello")
	ErrHelloTooBig    = fmt.Errorf("ClientHello larger than %d bytes", MaxHelloPeek)
)

// ShortError says the ClientHello continues past the bytes given: Need bytes
// from the start of the stream are required to parse it.
type ShortError struct{ Need int }

func (e *ShortError) Error() string {
	return fmt.Sprintf("ClientHello incomplete: need %d bytes", e.Need)
}

// ClientHello is what routing needs from a TLS ClientHello.
type ClientHello struct {
	ServerName string   // SNI host_name, lower case without a trailing dot; "" when absent
	ALPN       []string // protocols offered, in the client's order
}

// ParseClientHello parses the ClientHello at the start of b, the first bytes
// a client sent. It never reads past b and allocates little: the server name
// and ALPN strings. When b is a valid prefix of a longer ClientHello it
// returns a *ShortError; the caller peeks more and calls again.
func ParseClientHello(b []byte) (*ClientHello, error) {
	msg, err := handshakeMessage(b)
	if err != nil {
		return nil, err
	}
	return parseHelloBody(msg)
}

// handshakeMessage reassembles the first handshake message from the records
// at the start of b (RFC 8446 §5.1 allows a message to span records).
func handshakeMessage(b []byte) ([]byte, error) {
	if len(b) > 0 && b[0] != recordTypeHandshake {
		return nil, ErrNotTLS
	}
	var msg []byte
	off := 0
	for {
		if off+recordHeaderLen > len(b) {
			return nil, &ShortError{Need: off + recordHeaderLen}
		}
		h := b[off : off+recordHeaderLen]
		if h[0] != recordTypeHandshake {
			return nil, fmt.Errorf("%w: record type %d inside the ClientHello", ErrMalformedHello, h[0])
		}
		if h[1] != 3 { // legacy_record_version is 0x03xx for every TLS
			return nil, ErrNotTLS
		}
		n := int(h[3])<<8 | int(h[4])
		if n == 0 || n > maxRecordPayload {
			return nil, fmt.Errorf("%w: record length %d", ErrMalformedHello, n)
		}
		end := off + recordHeaderLen + n
		if end > MaxHelloPeek {
			return nil, ErrHelloTooBig
		}
		if end > len(b) {
			return nil, &ShortError{Need: end}
		}
		frag := b[off+recordHeaderLen : end]
		if msg == nil {
			msg = frag // usually the whole message is in the first record: no copy
		} else {
			msg = append(msg[:len(msg):len(msg)], frag...)
		}
		off = end
		if len(msg) >= 4 {
			if msg[0] != handshakeClientHelo {
				return nil, fmt.Errorf("%w: handshake type %d, want ClientHello", ErrMalformedHello, msg[0])
			}
			total := 4 + be24(msg[1:4])
			if total > MaxHelloPeek {
				return nil, ErrHelloTooBig
			}
			if len(msg) >= total {
				return msg[:total], nil
			}
		}
	}
}

func be24(b []byte) int { return int(b[0])<<16 | int(b[1])<<8 | int(b[2]) }

// parseHelloBody reads a ClientHello handshake message (type and length
// included): RFC 8446 §4.1.2, the same layout as RFC 5246 §7.4.1.2.
func parseHelloBody(msg []byte) (*ClientHello, error) {
	r := reader(msg[4:])
	var skip []byte
	ok := r.skip(2+32) && // legacy_version, random
		r.vec8(&skip) && len(skip) <= 32 && // legacy_session_id
		r.vec16(&skip) && len(skip) >= 2 && len(skip)%2 == 0 && // cipher_suites
		r.vec8(&skip) && len(skip) >= 1 // legacy_compression_methods
	if !ok {
		return nil, fmt.Errorf("%w: bad fixed fields", ErrMalformedHello)
	}
	h := &ClientHello{}
	if len(r) == 0 {
		return h, nil // no extensions: an old client, so no SNI
	}
	var exts reader
	if !r.vec16((*[]byte)(&exts)) || len(r) != 0 {
		return nil, fmt.Errorf("%w: bad extensions block", ErrMalformedHello)
	}
	seen := map[uint16]bool{}
	for len(exts) > 0 {
		var typ uint16
		var data reader
		if !exts.u16(&typ) || !exts.vec16((*[]byte)(&data)) {
			return nil, fmt.Errorf("%w: truncated extension", ErrMalformedHello)
		}
		if seen[typ] { // RFC 8446 §4.2: at most one of each type
			return nil, fmt.Errorf("%w: duplicate extension %d", ErrMalformedHello, typ)
		}
		seen[typ] = true
		var err error
		switch typ {
		case extServerName:
			h.ServerName, err = parseSNI(data)
		case extALPN:
			h.ALPN, err = parseALPN(data)
		}
		if err != nil {
			return nil, err
		}
	}
	return h, nil
}

// parseSNI reads the server_name extension (RFC 6066 §3): the one host_name
// entry, lower-cased and without a trailing dot.
func parseSNI(data reader) (string, error) {
	var list reader
	if !data.vec16((*[]byte)(&list)) || len(data) != 0 || len(list) == 0 {
		return "", fmt.Errorf("%w: bad server_name extension", ErrMalformedHello)
	}
	name := ""
	for len(list) > 0 {
		var typ uint8
		var v []byte
		if !list.u8(&typ) || !list.vec16(&v) {
			return "", fmt.Errorf("%w: bad server_name entry", ErrMalformedHello)
		}
		if typ != sniHostName {
			continue // RFC 6066 §3: unknown name types are ignored
		}
		if name != "" {
			return "", fmt.Errorf("%w: two host_name entries", ErrMalformedHello)
		}
		if len(v) == 0 || len(v) > 255 || !hostChars(v) {
			return "", fmt.Errorf("%w: bad host_name", ErrMalformedHello)
		}
		name = strings.TrimSuffix(strings.ToLower(string(v)), ".")
	}
	return name, nil
}

// hostChars accepts the bytes a DNS host name can hold; anything else
// (NUL, spaces, UTF-8) is refused rather than matched or logged.
func hostChars(v []byte) bool {
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// parseALPN reads protocol_name_list (RFC 7301 §3.1).
func parseALPN(data reader) ([]string, error) {
	var list reader
	if !data.vec16((*[]byte)(&list)) || len(data) != 0 || len(list) < 2 {
		return nil, fmt.Errorf("%w: bad ALPN extension", ErrMalformedHello)
	}
	var protos []string
	for len(list) > 0 {
		var p []byte
		if !list.vec8(&p) || len(p) == 0 {
			return nil, fmt.Errorf("%w: bad ALPN protocol", ErrMalformedHello)
		}
		protos = append(protos, string(p))
	}
	return protos, nil
}

// reader is a bounds-checked cursor over a byte slice; every method
// reports false instead of reading past the end.
type reader []byte

func (r *reader) skip(n int) bool {
	if len(*r) < n {
		return false
	}
	*r = (*r)[n:]
	return true
}

func (r *reader) u8(v *uint8) bool {
	if len(*r) < 1 {
		return false
	}
	*v = (*r)[0]
	*r = (*r)[1:]
	return true
}

func (r *reader) u16(v *uint16) bool {
	if len(*r) < 2 {
		return false
	}
	*v = uint16((*r)[0])<<8 | uint16((*r)[1])
	*r = (*r)[2:]
	return true
}

// vec8 and vec16 read a vector with a 1- or 2-byte length prefix.
func (r *reader) vec8(v *[]byte) bool {
	var n uint8
	return r.u8(&n) && r.bytes(int(n), v)
}

func (r *reader) vec16(v *[]byte) bool {
	var n uint16
	return r.u16(&n) && r.bytes(int(n), v)
}

func (r *reader) bytes(n int, v *[]byte) bool {
	if len(*r) < n {
		return false
	}
	*v = (*r)[:n]
	*r = (*r)[n:]
	return true
}
