package udpframe

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

func TestParseSOCKS(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		addr    string
		host    string
		payload string
		err     error
	}{
		{"ipv4", []byte("\x00\x00\x00\x01\x7f\x00\x00\x01\x00\x35hi"), "127.0.0.1:53", "", "hi", nil},
		{"ipv6", append(append([]byte("\x00\x00\x00\x04"), netip.MustParseAddr("2001:db8::1").AsSlice()...), "\x01\xbbq"...), "[2001:db8::1]:443", "", "q", nil},
		{"ipv4-mapped ipv6 is ipv4", append(append([]byte("\x00\x00\x00\x04"), netip.MustParseAddr("::ffff:10.0.0.1").AsSlice()...), "\x00\x35"...), "10.0.0.1:53", "", "", nil},
		{"name", []byte("\x00\x00\x00\x03\x0bexample.com\x00\x35data"), "0.0.0.0:53", "example.com", "data", nil},
		{"rsv ignored", []byte("\xff\xff\x00\x01\x01\x02\x03\x04\x00\x01x"), "1.2.3.4:1", "", "x", nil},
		{"fragment", []byte("\x00\x00\x01\x01\x7f\x00\x00\x01\x00\x35hi"), "", "", "", ErrFragment},
		{"unknown type", []byte("\x00\x00\x00\x05\x7f\x00\x00\x01\x00\x35"), "", "", "", ErrAddrType},
		{"empty", nil, "", "", "", ErrTruncated},
		{"three bytes", []byte("\x00\x00\x00"), "", "", "", ErrTruncated},
		{"short ipv4", []byte("\x00\x00\x00\x01\x7f\x00\x00\x01\x00"), "", "", "", ErrTruncated},
		{"short ipv6", []byte("\x00\x00\x00\x04\x20\x01"), "", "", "", ErrTruncated},
		{"no name length", []byte("\x00\x00\x00\x03"), "", "", "", ErrTruncated},
		{"short name", []byte("\x00\x00\x00\x03\x0bexample\x00\x35"), "", "", "", ErrTruncated},
		{"empty name", []byte("\x00\x00\x00\x03\x00\x00\x35"), "", "", "", ErrEmptyName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseSOCKS(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			got := h.Addr.String()
			if h.Name != nil {
				got = netip.AddrPortFrom(netip.IPv4Unspecified(), h.Addr.Port()).String()
			}
			if got != tt.addr || string(h.Name) != tt.host || string(tt.in[h.Len:]) != tt.payload {
				t.Fatalf("got %s %q payload %q, want %s %q %q", got, h.Name, tt.in[h.Len:], tt.addr, tt.host, tt.payload)
			}
		})
	}
}

// A header written by PutSOCKS in front of a payload parses back to the
// same address and payload.
func TestPutSOCKSRoundTrip(t *testing.T) {
	tests := []struct {
		ap   netip.AddrPort
		name string
	}{
		{netip.MustParseAddrPort("192.0.2.1:53"), ""},
		{netip.MustParseAddrPort("[2001:db8::7]:443"), ""},
		{netip.MustParseAddrPort("[::ffff:192.0.2.9]:1"), ""},
		{netip.AddrPortFrom(netip.Addr{}, 8443), "a.example"},
		{netip.AddrPortFrom(netip.Addr{}, 65535), string(bytes.Repeat([]byte("x"), 255))},
	}
	for _, tt := range tests {
		buf := make([]byte, MaxSOCKSHeader+3)
		copy(buf[MaxSOCKSHeader:], "pay")
		start := PutSOCKS(buf[:MaxSOCKSHeader], tt.ap, tt.name)
		h, err := ParseSOCKS(buf[start:])
		if err != nil {
			t.Fatalf("%v %q: %v", tt.ap, tt.name, err)
		}
		if string(h.Name) != tt.name || h.Addr.Port() != tt.ap.Port() || tt.name == "" && h.Addr.Addr() != tt.ap.Addr().Unmap() {
			t.Errorf("%v %q: parsed %v %q", tt.ap, tt.name, h.Addr, h.Name)
		}
		if got := string(buf[start+h.Len:]); got != "pay" {
			t.Errorf("%v %q: payload %q", tt.ap, tt.name, got)
		}
		if a := AppendSOCKS(nil, tt.ap, tt.name); !bytes.Equal(a, buf[start:MaxSOCKSHeader]) {
			t.Errorf("AppendSOCKS % x, PutSOCKS % x", a, buf[start:MaxSOCKSHeader])
		}
	}
}

func FuzzParseSOCKS(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x01\x7f\x00\x00\x01\x00\x35hi"))
	f.Add([]byte("\x00\x00\x00\x03\x0bexample.com\x00\x35data"))
	f.Add([]byte("\x00\x00\x00\x04\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x35"))
	f.Add([]byte("\x00\x00\x01\x01"))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := ParseSOCKS(in)
		if err != nil {
			return
		}
		if h.Len > len(in) || h.Len < 4 || h.Len > MaxSOCKSHeader {
			t.Fatalf("header length %d of %d bytes", h.Len, len(in))
		}
		// What parsed writes back to a header that parses the same (an
		// IPv4-mapped IPv6 address comes back as IPv4).
		buf := make([]byte, MaxSOCKSHeader)
		start := PutSOCKS(buf, h.Addr, string(h.Name))
		h2, err := ParseSOCKS(buf[start:])
		if err != nil || h2.Addr != h.Addr || !bytes.Equal(h2.Name, h.Name) || h2.Len != len(buf)-start {
			t.Fatalf("re-encoded % x parses as %+v, %v; parsed from % x as %+v", buf[start:], h2, err, in[:h.Len], h)
		}
	})
}
