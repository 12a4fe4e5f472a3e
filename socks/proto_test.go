package socks

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
)

// trailer follows every table input: a parser must leave it unread, since
// after the handshake the conn goes to the relay byte-exact.
const trailer = "NEXT"

var greetingTests = []struct {
	name    string
	in      string // after the version byte
	methods []byte
	err     error // nil, errMalformed, or an io error
}{
	{"no auth", "\x01\x00", []byte{0x00}, nil},
	{"two methods", "\x02\x00\x02", []byte{0x00, 0x02}, nil},
	{"user/pass only", "\x01\x02", []byte{0x02}, nil},
	{"255 methods", "\xff" + strings.Repeat("\x01", 255), bytes.Repeat([]byte{1}, 255), nil},
	{"zero methods", "\x00", nil, errMalformed},
	{"empty", "", nil, io.EOF},
	{"truncated methods", "\x03\x00\x01", nil, io.ErrUnexpectedEOF},
}

func TestReadGreeting(t *testing.T) {
	for _, tt := range greetingTests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if tt.err == nil {
				in += trailer
			}
			r := strings.NewReader(in)
			got, err := readGreeting(r)
			if !errors.Is(err, tt.err) {
				t.Fatalf("readGreeting(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if !bytes.Equal(got, tt.methods) {
				t.Errorf("methods = %v, want %v", got, tt.methods)
			}
			if tt.err == nil && r.Len() != len(trailer) {
				t.Errorf("read %d bytes past the greeting", len(trailer)-r.Len())
			}
		})
	}
}

var request5Tests = []struct {
	name string
	in   string
	want request5
	rep  byte
	err  error
}{
	{"ipv4", "\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50", request5{cmd: cmdConnect, host: "127.0.0.1", port: 80}, repSucceeded, nil},
	{"ipv6", "\x05\x01\x00\x04" + "\x20\x01\x0d\xb8" + strings.Repeat("\x00", 11) + "\x01" + "\x01\xbb",
		request5{cmd: cmdConnect, host: "2001:db8::1", port: 443}, repSucceeded, nil},
	{"ipv6 loopback", "\x05\x01\x00\x04" + strings.Repeat("\x00", 15) + "\x01" + "\xff\xff",
		request5{cmd: cmdConnect, host: "::1", port: 65535}, repSucceeded, nil},
	{"domain", "\x05\x01\x00\x03\x09localhost\x1f\x90", request5{cmd: cmdConnect, host: "localhost", port: 8080}, repSucceeded, nil},
	{"domain 255", "\x05\x01\x00\x03\xff" + strings.Repeat("a", 255) + "\x00\x01",
		request5{cmd: cmdConnect, host: strings.Repeat("a", 255), port: 1}, repSucceeded, nil},
	{"empty domain", "\x05\x01\x00\x03\x00\x00\x50", request5{cmd: cmdConnect, host: "", port: 80}, repSucceeded, nil},
	{"bind", "\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50", request5{cmd: cmdBind, host: "127.0.0.1", port: 80}, repSucceeded, nil},
	{"udp associate", "\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00", request5{cmd: cmdAssociate, host: "0.0.0.0", port: 0}, repSucceeded, nil},
	{"unknown atyp", "\x05\x01\x00\x02\x7f\x00\x00\x01\x00\x50", request5{cmd: cmdConnect}, repAddrNotSupported, nil},
	{"wrong version", "\x04\x01\x00\x01\x7f\x00\x00\x01\x00\x50", request5{}, 0, errMalformed},
	{"empty", "", request5{}, 0, io.EOF},
	{"truncated head", "\x05\x01", request5{}, 0, io.ErrUnexpectedEOF},
	{"truncated ipv4", "\x05\x01\x00\x01\x7f\x00", request5{cmd: cmdConnect}, 0, io.ErrUnexpectedEOF},
	{"truncated ipv6", "\x05\x01\x00\x04\x00", request5{cmd: cmdConnect}, 0, io.ErrUnexpectedEOF},
	{"truncated domain length", "\x05\x01\x00\x03", request5{cmd: cmdConnect}, 0, io.EOF},
	{"truncated domain", "\x05\x01\x00\x03\x09local", request5{cmd: cmdConnect}, 0, io.ErrUnexpectedEOF},
	{"truncated port", "\x05\x01\x00\x01\x7f\x00\x00\x01\x00", request5{cmd: cmdConnect, host: "127.0.0.1"}, 0, io.ErrUnexpectedEOF},
}

func TestReadRequest5(t *testing.T) {
	for _, tt := range request5Tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if tt.err == nil && tt.rep == repSucceeded {
				in += trailer
			}
			r := strings.NewReader(in)
			got, rep, err := readRequest5(r)
			if !errors.Is(err, tt.err) {
				t.Fatalf("readRequest5 error = %v, want %v", err, tt.err)
			}
			if got != tt.want || rep != tt.rep {
				t.Errorf("readRequest5 = %+v rep %#x, want %+v rep %#x", got, rep, tt.want, tt.rep)
			}
			if tt.err == nil && tt.rep == repSucceeded && r.Len() != len(trailer) {
				t.Errorf("read %d bytes past the request", len(trailer)-r.Len())
			}
		})
	}
}

var request4Tests = []struct {
	name string
	in   string // after the version byte
	want request4
	err  error
}{
	{"socks4", "\x01\x00\x50\x7f\x00\x00\x01\x00", request4{cmd: cmdConnect, host: "127.0.0.1", port: 80}, nil},
	{"socks4 user", "\x01\x01\xbb\xc0\x00\x02\x01alice\x00", request4{cmd: cmdConnect, host: "192.0.2.1", port: 443, userID: "alice"}, nil},
	{"socks4a", "\x01\x00\x50\x00\x00\x00\x01\x00example.com\x00", request4{cmd: cmdConnect, host: "example.com", port: 80}, nil},
	{"socks4a user", "\x01\x00\x50\x00\x00\x00\xffbob\x00localhost\x00", request4{cmd: cmdConnect, host: "localhost", port: 80, userID: "bob"}, nil},
	{"0.0.0.0 is not 4a", "\x01\x00\x50\x00\x00\x00\x00\x00", request4{cmd: cmdConnect, host: "0.0.0.0", port: 80}, nil},
	{"bind", "\x02\x00\x50\x7f\x00\x00\x01\x00", request4{cmd: cmdBind, host: "127.0.0.1", port: 80}, nil},
	{"userid 255", "\x01\x00\x50\x7f\x00\x00\x01" + strings.Repeat("u", 255) + "\x00",
		request4{cmd: cmdConnect, host: "127.0.0.1", port: 80, userID: strings.Repeat("u", 255)}, nil},
	{"userid 256", "\x01\x00\x50\x7f\x00\x00\x01" + strings.Repeat("u", 256) + "\x00", request4{cmd: cmdConnect, port: 80}, errMalformed},
	{"socks4a host 256", "\x01\x00\x50\x00\x00\x00\x01\x00" + strings.Repeat("h", 256) + "\x00", request4{cmd: cmdConnect, port: 80}, errMalformed},
	{"socks4a empty host", "\x01\x00\x50\x00\x00\x00\x01\x00\x00", request4{cmd: cmdConnect, port: 80}, errMalformed},
	{"empty", "", request4{}, io.EOF},
	{"truncated head", "\x01\x00\x50\x7f", request4{}, io.ErrUnexpectedEOF},
	{"no userid nul", "\x01\x00\x50\x7f\x00\x00\x01abc", request4{cmd: cmdConnect, port: 80}, io.EOF},
	{"no host nul", "\x01\x00\x50\x00\x00\x00\x01\x00example", request4{cmd: cmdConnect, port: 80}, io.EOF},
}

func TestReadRequest4(t *testing.T) {
	for _, tt := range request4Tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if tt.err == nil {
				in += trailer
			}
			r := strings.NewReader(in)
			got, err := readRequest4(r)
			if !errors.Is(err, tt.err) {
				t.Fatalf("readRequest4 error = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("readRequest4 = %+v, want %+v", got, tt.want)
			}
			if tt.err == nil && r.Len() != len(trailer) {
				t.Errorf("read %d bytes past the request", len(trailer)-r.Len())
			}
		})
	}
}

func TestReadCString(t *testing.T) {
	tests := []struct {
		name, in, want string
		rest           int // bytes left unread
		err            error
	}{
		{"empty string", "\x00x", "", 1, nil},
		{"word", "abc\x00rest", "abc", 4, nil},
		{"longest", strings.Repeat("z", 255) + "\x00", strings.Repeat("z", 255), 0, nil},
		{"too long", strings.Repeat("z", 256) + "\x00", "", 1, errMalformed},
		{"unbounded stream", strings.Repeat("z", 10000), "", 10000 - 256, errMalformed},
		{"no nul", "abc", "", 0, io.EOF},
		{"nothing", "", "", 0, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := strings.NewReader(tt.in)
			got, err := readCString(r)
			if !errors.Is(err, tt.err) || got != tt.want || r.Len() != tt.rest {
				t.Errorf("readCString = %q, %v, %d unread; want %q, %v, %d", got, err, r.Len(), tt.want, tt.err, tt.rest)
			}
		})
	}
}

func TestAppendReply5(t *testing.T) {
	tests := []struct {
		name string
		rep  byte
		bnd  netip.AddrPort
		want string
	}{
		{"ipv4", repSucceeded, netip.MustParseAddrPort("127.0.0.1:1080"), "\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38"},
		{"ipv6", repSucceeded, netip.MustParseAddrPort("[2001:db8::1]:443"),
			"\x05\x00\x00\x04\x20\x01\x0d\xb8" + strings.Repeat("\x00", 11) + "\x01\x01\xbb"},
		{"ipv4-mapped is sent as ipv4", repSucceeded, netip.MustParseAddrPort("[::ffff:192.0.2.1]:80"), "\x05\x00\x00\x01\xc0\x00\x02\x01\x00\x50"},
		{"zero bnd", 0x05, netip.AddrPort{}, "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00"},
		{"unsupported atyp", repAddrNotSupported, netip.AddrPort{}, "\x05\x08\x00\x01\x00\x00\x00\x00\x00\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := appendReply5([]byte("x"), tt.rep, tt.bnd)
			if string(got) != "x"+tt.want {
				t.Errorf("appendReply5 = %q, want %q", got, "x"+tt.want)
			}
		})
	}
}

// Fuzz targets: any input, no panic, no read past the message (bounded by
// the protocol's largest message), and what parses re-encodes to exactly
// the bytes consumed.

func FuzzGreeting(f *testing.F) {
	for _, tt := range greetingTests {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		methods, err := readGreeting(r)
		used := len(in) - r.Len()
		if used > 1+255 {
			t.Fatalf("read %d bytes; a greeting is at most 256", used)
		}
		if err != nil {
			return
		}
		enc := append([]byte{byte(len(methods))}, methods...)
		if !bytes.Equal(enc, in[:used]) {
			t.Fatalf("consumed %q, re-encoded %q", in[:used], enc)
		}
	})
}

func FuzzRequest5(f *testing.F) {
	for _, tt := range request5Tests {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		req, rep, err := readRequest5(r)
		used := len(in) - r.Len()
		if used > 4+1+255+2 {
			t.Fatalf("read %d bytes; a request is at most 262", used)
		}
		if err != nil || rep != repSucceeded {
			return
		}
		// RSV is ignored, as most servers do; copy it to compare the rest.
		enc := encodeRequest5(t, req, in[2], in[3])
		if !bytes.Equal(enc, in[:used]) {
			t.Fatalf("consumed %q, re-encoded %q", in[:used], enc)
		}
	})
}

func encodeRequest5(t *testing.T, req request5, rsv, atyp byte) []byte {
	b := []byte{version5, req.cmd, rsv, atyp}
	switch atyp {
	case atypDomain:
		b = append(b, byte(len(req.host)))
		b = append(b, req.host...)
	default:
		ip, err := netip.ParseAddr(req.host)
		if err != nil {
			t.Fatalf("address type %d gave host %q: %v", atyp, req.host, err)
		}
		if atyp == atypIPv4 {
			a := ip.As4()
			b = append(b, a[:]...)
		} else {
			a := ip.As16()
			b = append(b, a[:]...)
		}
	}
	return binary.BigEndian.AppendUint16(b, req.port)
}

func FuzzRequest4(f *testing.F) {
	for _, tt := range request4Tests {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		req, err := readRequest4(r)
		used := len(in) - r.Len()
		if used > 7+256+256 {
			t.Fatalf("read %d bytes; a SOCKS4a request is at most 519", used)
		}
		if err != nil {
			return
		}
		if strings.ContainsRune(req.userID, 0) || strings.ContainsRune(req.host, 0) {
			t.Fatalf("NUL inside a field: %+v", req)
		}
		b := []byte{req.cmd}
		b = binary.BigEndian.AppendUint16(b, req.port)
		b = append(b, in[3:7]...) // DSTIP as sent: 4a's 0.0.0.x is not in req
		b = append(b, req.userID...)
		b = append(b, 0)
		if in[3] == 0 && in[4] == 0 && in[5] == 0 && in[6] != 0 {
			b = append(b, req.host...)
			b = append(b, 0)
		} else if want := netip.AddrFrom4([4]byte(in[3:7])).String(); req.host != want {
			t.Fatalf("host %q, want %q", req.host, want)
		}
		if !bytes.Equal(b, in[:used]) {
			t.Fatalf("consumed %q, re-encoded %q", in[:used], b)
		}
	})
}
