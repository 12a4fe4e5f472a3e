package udpframe

import "testing"

func TestMasquePath(t *testing.T) {
	tests := []struct {
		path string
		host string
		port uint16
		ok   bool
	}{
		{"/.well-known/masque/udp/192.0.2.6/443/", "192.0.2.6", 443, true},
		{"/.well-known/masque/udp/example.com/53/", "example.com", 53, true},
		{"/.well-known/masque/udp/2001:db8::42/443/", "2001:db8::42", 443, true},
		{"/.well-known/masque/udp/2001%3Adb8%3A%3A42/443/", "2001:db8::42", 443, true},
		{"/.well-known/masque/udp/example.com/53", "example.com", 53, true},
		{"/.well-known/masque/udp/example.com/0/", "", 0, false},
		{"/.well-known/masque/udp/example.com/65536/", "", 0, false},
		{"/.well-known/masque/udp/example.com/x/", "", 0, false},
		{"/.well-known/masque/udp//53/", "", 0, false},
		{"/.well-known/masque/udp/example.com/", "", 0, false},
		{"/.well-known/masque/udp/a/b/53/", "", 0, false},
		{"/.well-known/masque/udp/fe80::1%25eth0/53/", "", 0, false},
		{"/.well-known/masque/udp/%5B::1%5D/53/", "", 0, false},
		{"/.well-known/masque/ip/example.com/53/", "", 0, false},
		{"/", "", 0, false},
	}
	for _, tt := range tests {
		host, port, ok := ParseMasquePath(tt.path)
		if host != tt.host || port != tt.port || ok != tt.ok {
			t.Errorf("ParseMasquePath(%q) = %q, %d, %v; want %q, %d, %v", tt.path, host, port, ok, tt.host, tt.port, tt.ok)
		}
	}
	for _, h := range []string{"example.com", "192.0.2.1", "2001:db8::1"} {
		p := MasquePath(h, 8443)
		if host, port, ok := ParseMasquePath(p); !ok || host != h || port != 8443 {
			t.Errorf("MasquePath(%q) = %q, parsed back as %q %d %v", h, p, host, port, ok)
		}
	}
	if p := MasquePath("2001:db8::1", 53); p != "/.well-known/masque/udp/2001%3Adb8%3A%3A1/53/" {
		t.Errorf("MasquePath of an IPv6 literal: %q", p)
	}
}

func FuzzParseMasquePath(f *testing.F) {
	f.Add("/.well-known/masque/udp/example.com/53/")
	f.Add("/.well-known/masque/udp/2001%3Adb8%3A%3A42/443/")
	f.Fuzz(func(t *testing.T, path string) {
		host, port, ok := ParseMasquePath(path)
		if !ok {
			return
		}
		if host == "" || port == 0 {
			t.Fatalf("%q: ok with host %q port %d", path, host, port)
		}
		if h, p, ok := ParseMasquePath(MasquePath(host, port)); !ok || h != host || p != port {
			t.Fatalf("%q: %q %d does not round-trip: %q %d %v", path, host, port, h, p, ok)
		}
	})
}
