package udpframe

import (
	"bufio"
	"errors"
	"io"
)

// The HTTP Datagram capsule (RFC 9297 §3.5) carrying a UDP payload (RFC
// 9298 §4):
//
//	Capsule { Type (i) = 0x00, Length (i), Context ID (i) = 0, UDP Payload (..) }
//
// where (i) is a QUIC variable-length integer (RFC 9000 §16).

// CapsuleDatagram is the DATAGRAM capsule type (RFC 9297 §3.5).
const CapsuleDatagram = 0x00

// MaxCapsuleHeader is the longest header PutDatagram writes: the type,
// an eight-byte length and the context ID.
const MaxCapsuleHeader = 1 + 8 + 1

// ErrVarint is a variable-length integer cut short.
var ErrVarint = errors.New("capsule: variable-length integer cut short")

// ReadVarint reads a QUIC variable-length integer (RFC 9000 §16): the two
// high bits of the first byte give its length, 1, 2, 4 or 8 bytes.
func ReadVarint(r io.ByteReader) (uint64, error) {
	b, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	n := 1 << (b >> 6)
	v := uint64(b & 0x3f)
	for i := 1; i < n; i++ {
		b, err := r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		v = v<<8 | uint64(b)
	}
	return v, nil
}

// ParseVarint parses a variable-length integer at the start of b and
// returns it and its length; n is 0 when b is too short.
func ParseVarint(b []byte) (v uint64, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	n = 1 << (b[0] >> 6)
	if len(b) < n {
		return 0, 0
	}
	v = uint64(b[0] & 0x3f)
	for i := 1; i < n; i++ {
		v = v<<8 | uint64(b[i])
	}
	return v, n
}

// VarintLen is the length of v's shortest encoding; v must be below 2^62.
func VarintLen(v uint64) int {
	switch {
	case v < 1<<6:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<30:
		return 4
	}
	return 8
}

// putVarint writes v's shortest encoding at the start of b.
func putVarint(b []byte, v uint64) int {
	n := VarintLen(v)
	for i := n - 1; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	b[0] |= byte(bits(n)) << 6
	return n
}

func bits(n int) int {
	switch n {
	case 1:
		return 0
	case 2:
		return 1
	case 4:
		return 2
	}
	return 3
}

// AppendVarint appends v's shortest encoding.
func AppendVarint(b []byte, v uint64) []byte {
	var tmp [8]byte
	n := putVarint(tmp[:], v)
	return append(b, tmp[:n]...)
}

// PutDatagram writes the header of a DATAGRAM capsule carrying a UDP
// payload of n bytes (context ID 0) into the end of b, which must hold
// MaxCapsuleHeader bytes, and returns where it starts, so that the payload
// following b in the same buffer is sent without a copy.
func PutDatagram(b []byte, n int) (start int) {
	length := uint64(n) + 1 // the context ID, then the payload
	start = len(b) - 1 - VarintLen(length) - 1
	h := b[start:]
	h[0] = CapsuleDatagram
	k := putVarint(h[1:], length)
	h[1+k] = 0 // context ID 0: a UDP payload (RFC 9298 §4)
	return start
}

// ErrCapsuleTooLong is a capsule longer than the datagram buffer given to
// ReadDatagram: the stream cannot be read on.
var ErrCapsuleTooLong = errors.New("capsule: longer than the largest datagram")

// ErrCapsule is a DATAGRAM capsule too short for its context ID.
var ErrCapsule = errors.New("capsule: malformed DATAGRAM capsule")

// ReadDatagram reads one capsule from r. A DATAGRAM capsule with context
// ID 0 has its UDP payload copied into b: n is its length and ok is true.
// Any other capsule is read past and ok is false: an unknown type (RFC
// 9297 §3.2 asks receivers to skip it) or a context ID no one registered
// (RFC 9298 §4). A capsule longer than b plus its header is
// ErrCapsuleTooLong; a stream that ends inside a capsule is
// io.ErrUnexpectedEOF (io.EOF between capsules).
func ReadDatagram(r *bufio.Reader, b []byte) (n int, ok bool, err error) {
	typ, err := ReadVarint(r)
	if err != nil {
		return 0, false, err
	}
	length, _, err := readVarintN(r)
	if err != nil {
		return 0, false, err
	}
	if length > uint64(len(b))+8 {
		return 0, false, ErrCapsuleTooLong
	}
	if typ != CapsuleDatagram {
		return 0, false, discard(r, int(length))
	}
	if length == 0 {
		return 0, false, ErrCapsule
	}
	ctxID, k, err := readVarintN(r)
	switch {
	case err != nil:
		return 0, false, err
	case uint64(k) > length:
		return 0, false, ErrCapsule
	}
	payload := int(length) - k
	if ctxID != 0 || payload > len(b) {
		return 0, false, discard(r, payload)
	}
	if _, err := io.ReadFull(r, b[:payload]); err != nil {
		return 0, false, unexpected(err)
	}
	return payload, true, nil
}

// readVarintN is ReadVarint inside a capsule, with the bytes it took: an
// end of stream there is unexpected.
func readVarintN(r *bufio.Reader) (uint64, int, error) {
	first, err := r.Peek(1)
	if err != nil {
		return 0, 0, unexpected(err)
	}
	n := 1 << (first[0] >> 6)
	v, err := ReadVarint(r)
	return v, n, unexpected(err)
}

func discard(r *bufio.Reader, n int) error {
	_, err := r.Discard(n)
	return unexpected(err)
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
