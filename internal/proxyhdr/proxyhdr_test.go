package proxyhdr

import (
	"errors"
	"io"
	"net/netip"
	"testing"
)

// peekOf shows b as a peer that sent b and then closed.
func peekOf(b []byte) func(n int) ([]byte, error) {
	return func(n int) ([]byte, error) {
		if n > len(b) {
			return b, io.ErrUnexpectedEOF
		}
		return b, nil
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantLen int
		wantSrc string
		wantErr bool
	}{
		{"v1 TCP4", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET", 32, "1.2.3.4:1", false},
		{"v1 TCP6", "PROXY TCP6 ::1 ::2 10 20\r\n", 26, "[::1]:10", false},
		{"v1 UNKNOWN", "PROXY UNKNOWN\r\n", 15, "", false},
		{"v1 too long", "PROXY TCP4 " + string(make([]byte, 120)), 0, "", true},
		{"v1 cut short", "PROXY TCP4 1.2.3.4", 0, "", true},
		{"not a header", "GET / HTTP/1.1\r\n\r\n", 0, "", true},
		{"v2 signature only", "\r\n\r\n\x00\r\nQUIT\n", 0, "", true},
		{"v2 too large", "\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff", 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, n, err := Parse(peekOf([]byte(tt.in)))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if n != tt.wantLen {
				t.Errorf("length %d, want %d", n, tt.wantLen)
			}
			src, _, ok := Addrs(h)
			if got := ""; ok {
				got = src.String()
				if got != tt.wantSrc {
					t.Errorf("source %s, want %s", got, tt.wantSrc)
				}
			} else if tt.wantSrc != "" {
				t.Errorf("no source, want %s", tt.wantSrc)
			}
		})
	}
	if _, _, err := Parse(peekOf([]byte("GET / HTTP/1.1\r\n"))); !errors.Is(err, ErrMissing) {
		t.Errorf("a request instead of a header: %v, want ErrMissing", err)
	}
}

// FuzzParse: no panic, and a header's length never passes what was
// shown or MaxBytes.
func FuzzParse(f *testing.F) {
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, n, err := Parse(peekOf(b))
		if err == nil && (n > len(b) || n > MaxBytes) {
			t.Fatalf("length %d of %d bytes shown", n, len(b))
		}
	})
}

// A balancer reached over a link-local address (its zone on the peer
// address) is trusted by the CIDR naming it.
func TestTrustedZoned(t *testing.T) {
	from := []netip.Prefix{netip.MustParsePrefix("fe80::/10")}
	if !Trusted(from, netip.MustParseAddr("fe80::1%eth0")) {
		t.Error("fe80::1 with a zone not trusted by fe80::/10")
	}
}

func TestLooks(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"v1", "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n", true},
		{"v1, first 5 bytes", "PROXY", true},
		{"v2", "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c", true},
		{"v2, first 5 bytes", "\r\n\r\n\x00", true},
		{"TLS", "\x16\x03\x01\x02\x00\x01", false},
		{"HTTP", "PUT / HTTP/1.1\r\n", false},
		{"PROXY without its space", "PROXYTCP4", false},
		{"too short to tell", "PROX", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Looks([]byte(tt.in)); got != tt.want {
				t.Fatalf("Looks(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
