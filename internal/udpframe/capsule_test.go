package udpframe

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// RFC 9000 §A.1's sample encodings.
func TestVarint(t *testing.T) {
	tests := []struct {
		enc string
		v   uint64
	}{
		{"\xc2\x19\x7c\x5e\xff\x14\xe8\x8c", 151288809941952652},
		{"\x9d\x7f\x3e\x7d", 494878333},
		{"\x7b\xbd", 15293},
		{"\x25", 37},
		{"\x40\x25", 37}, // not the shortest, still valid
	}
	for _, tt := range tests {
		got, err := ReadVarint(bufio.NewReader(bytes.NewReader([]byte(tt.enc))))
		if err != nil || got != tt.v {
			t.Errorf("ReadVarint(% x) = %d, %v; want %d", tt.enc, got, err, tt.v)
		}
		if v, n := ParseVarint([]byte(tt.enc)); v != tt.v || n != len(tt.enc) {
			t.Errorf("ParseVarint(% x) = %d, %d", tt.enc, v, n)
		}
		if len(tt.enc) == VarintLen(tt.v) {
			if enc := AppendVarint(nil, tt.v); string(enc) != tt.enc {
				t.Errorf("AppendVarint(%d) = % x, want % x", tt.v, enc, tt.enc)
			}
		}
	}
	if _, err := ReadVarint(bytes.NewReader([]byte{0x9d, 0x7f})); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut short: %v", err)
	}
	if _, n := ParseVarint([]byte{0xc2}); n != 0 {
		t.Errorf("ParseVarint of a cut-short integer: n = %d", n)
	}
}

// PutDatagram's header in front of a payload reads back as a DATAGRAM
// capsule of context ID 0 holding the payload, for lengths around each
// varint size.
func TestPutDatagram(t *testing.T) {
	for _, n := range []int{0, 1, 62, 63, 64, 1500, 16382, 16383, 65535} {
		buf := make([]byte, MaxCapsuleHeader+n)
		for i := range n {
			buf[MaxCapsuleHeader+i] = byte(i)
		}
		start := PutDatagram(buf[:MaxCapsuleHeader], n)
		r := bytes.NewReader(buf[start:])
		typ, err1 := ReadVarint(r)
		length, err2 := ReadVarint(r)
		ctxID, err3 := ReadVarint(r)
		if err := errors.Join(err1, err2, err3); err != nil || typ != CapsuleDatagram || length != uint64(n)+1 || ctxID != 0 || r.Len() != n {
			t.Fatalf("n=%d: type %d length %d context %d rest %d, %v", n, typ, length, ctxID, r.Len(), err)
		}
	}
}

func FuzzVarint(f *testing.F) {
	f.Add([]byte{0x25})
	f.Add([]byte{0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c})
	f.Fuzz(func(t *testing.T, in []byte) {
		v, n := ParseVarint(in)
		if n == 0 {
			return
		}
		if n > len(in) || n > 8 || v >= 1<<62 {
			t.Fatalf("ParseVarint(% x) = %d, %d", in, v, n)
		}
		if enc := AppendVarint(nil, v); len(enc) > n {
			t.Fatalf("%d re-encoded in %d bytes, parsed from %d", v, len(enc), n)
		}
	})
}

func TestReadDatagram(t *testing.T) {
	datagram := func(ctxID byte, payload string) string {
		return string(AppendVarint([]byte{CapsuleDatagram}, uint64(len(payload)+1))) + string(ctxID) + payload
	}
	tests := []struct {
		name    string
		in      string
		payload []string // the datagrams read, in order; "" marks a capsule read past
		err     error
	}{
		{"one", datagram(0, "hello"), []string{"hello"}, io.EOF},
		{"empty payload", datagram(0, ""), []string{""}, io.EOF},
		{"two", datagram(0, "a") + datagram(0, "bc"), []string{"a", "bc"}, io.EOF},
		{"unknown type skipped", "\x3f\x03xyz" + datagram(0, "a"), []string{"", "a"}, io.EOF},
		{"other context skipped", datagram(2, "zz") + datagram(0, "a"), []string{"", "a"}, io.EOF},
		{"two-byte type skipped", "\x40\x3f\x00" + datagram(0, "a"), []string{"", "a"}, io.EOF},
		{"cut in the payload", datagram(0, "hello")[:5], nil, io.ErrUnexpectedEOF},
		{"cut after the type", "\x00", nil, io.ErrUnexpectedEOF},
		{"cut in the length", "\x00\x40", nil, io.ErrUnexpectedEOF},
		{"no context ID", "\x00\x00", nil, ErrCapsule},
		{"too long", "\x00\x80\x01\x00\x00", nil, ErrCapsuleTooLong},
		{"unknown type too long", "\x21\x80\x10\x00\x00", nil, ErrCapsuleTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bufio.NewReader(bytes.NewReader([]byte(tt.in)))
			b := make([]byte, 64)
			var got []string
			var err error
			for range 10 {
				var n int
				var ok bool
				n, ok, err = ReadDatagram(r, b)
				if err != nil {
					break
				}
				if ok {
					got = append(got, string(b[:n]))
				} else {
					got = append(got, "")
				}
			}
			if !errors.Is(err, tt.err) || strings.Join(got, "|") != strings.Join(tt.payload, "|") {
				t.Fatalf("read %q then %v; want %q then %v", got, err, tt.payload, tt.err)
			}
		})
	}
}

func FuzzReadDatagram(f *testing.F) {
	f.Add([]byte("\x00\x06\x00hello"))
	f.Add([]byte("\x3f\x03xyz\x00\x02\x00a"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		b := make([]byte, 128)
		// Every capsule read consumes at least two bytes: the loop ends.
		for range len(in) + 1 {
			n, ok, err := ReadDatagram(r, b)
			if err != nil {
				return
			}
			if n < 0 || n > len(b) || !ok && n != 0 {
				t.Fatalf("n %d ok %v", n, ok)
			}
		}
		t.Fatalf("%d capsules read from %d bytes", len(in)+1, len(in))
	})
}
