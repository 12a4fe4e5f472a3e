package reverse

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// buildHello builds a ClientHello carrying sni and alpn, split into
// records of at most split payload bytes (0: one record).
func buildHello(sni string, alpn []string, split int) []byte {
	var exts []byte
	if sni != "" {
		name := append([]byte{sniHostName}, u16(len(sni))...)
		name = append(name, sni...)
		list := append(u16(len(name)), name...)
		exts = append(exts, u16(extServerName)...)
		exts = append(exts, u16(len(list))...)
		exts = append(exts, list...)
	}
	if len(alpn) > 0 {
		var pl []byte
		for _, p := range alpn {
			pl = append(pl, byte(len(p)))
			pl = append(pl, p...)
		}
		list := append(u16(len(pl)), pl...)
		exts = append(exts, u16(extALPN)...)
		exts = append(exts, u16(len(list))...)
		exts = append(exts, list...)
	}
	body := []byte{3, 3}
	body = append(body, make([]byte, 32)...) // random
	body = append(body, 0)                   // session id
	body = append(body, 0, 2, 0x13, 0x01)    // one cipher suite
	body = append(body, 1, 0)                // null compression
	body = append(body, u16(len(exts))...)
	body = append(body, exts...)
	msg := append([]byte{handshakeClientHelo, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	if split <= 0 {
		split = len(msg)
	}
	var out []byte
	for len(msg) > 0 {
		n := min(split, len(msg))
		out = append(out, recordTypeHandshake, 3, 1)
		out = append(out, u16(n)...)
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

func u16(n int) []byte { return []byte{byte(n >> 8), byte(n)} }

func TestParseClientHello(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		sni     string
		alpn    []string
		wantErr error
		short   bool
	}{
		{name: "sni and alpn", in: buildHello("App.Example.COM.", []string{"h2", "http/1.1"}, 0), sni: "app.example.com", alpn: []string{"h2", "http/1.1"}},
		{name: "no sni", in: buildHello("", nil, 0)},
		{name: "split over records", in: buildHello("split.example.com", []string{"h2"}, 7), sni: "split.example.com", alpn: []string{"h2"}},
		{name: "empty", in: nil, short: true},
		{name: "header only", in: buildHello("a.example", nil, 0)[:5], short: true},
		{name: "truncated body", in: buildHello("a.example", nil, 0)[:40], short: true},
		{name: "http", in: []byte("GET / HTTP/1.1\r\n"), wantErr: ErrNotTLS},
		{name: "sslv2", in: []byte{0x80, 0x2e, 0x01, 0x03, 0x01}, wantErr: ErrNotTLS},
		{name: "bad record version", in: []byte{22, 9, 1, 0, 4, 1, 0, 0, 0}, wantErr: ErrNotTLS},
		{name: "zero length record", in: []byte{22, 3, 1, 0, 0}, wantErr: ErrMalformedHello},
		{name: "oversize record", in: []byte{22, 3, 1, 0x40, 0x01}, wantErr: ErrMalformedHello},
		{name: "not a client hello", in: []byte{22, 3, 3, 0, 4, 2, 0, 0, 0}, wantErr: ErrMalformedHello},
		{name: "alert inside", in: append(buildHello("a.example", nil, 10)[:15], 21, 3, 3, 0, 2, 2, 40), wantErr: ErrMalformedHello},
		{name: "message over the bound", in: []byte{22, 3, 1, 0, 4, 1, 0x01, 0, 0}, wantErr: ErrHelloTooBig},
		{name: "bad host chars", in: buildHello("a b.example", nil, 0), wantErr: ErrMalformedHello},
		{name: "empty alpn protocol", in: buildHello("a.example", []string{""}, 0), wantErr: ErrMalformedHello},
		{name: "empty hello body", in: []byte{22, 3, 1, 0, 4, 1, 0, 0, 0}, wantErr: ErrMalformedHello},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseClientHello(tt.in)
			var se *ShortError
			switch {
			case tt.short:
				if !errors.As(err, &se) || se.Need <= len(tt.in) {
					t.Fatalf("got %v, want a ShortError needing more than %d", err, len(tt.in))
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if h.ServerName != tt.sni || !slices.Equal(h.ALPN, tt.alpn) {
					t.Fatalf("got %q %q, want %q %q", h.ServerName, h.ALPN, tt.sni, tt.alpn)
				}
			}
		})
	}
}

// Every proper prefix of a valid ClientHello asks for more bytes, never
// fails: a slow client must not be refused.
func TestParseClientHelloPrefixes(t *testing.T) {
	full := buildHello("prefix.example.com", []string{"h2"}, 50)
	for n := 0; n < len(full); n++ {
		_, err := ParseClientHello(full[:n])
		var se *ShortError
		if !errors.As(err, &se) || se.Need <= n || se.Need > len(full) {
			t.Fatalf("prefix %d: %v", n, err)
		}
	}
}

// Real ClientHellos parse to what crypto/tls itself reads from them.
func TestParseCapturedHellos(t *testing.T) {
	files, _ := filepath.Glob("testdata/hello/*.bin")
	if len(files) < 4 {
		t.Fatalf("want the 4 captured hellos, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseClientHello(b)
			if err != nil {
				t.Fatal(err)
			}
			want := stdlibHello(t, b)
			if got.ServerName != want.ServerName || !slices.Equal(got.ALPN, want.SupportedProtos) {
				t.Fatalf("ours %q %q, crypto/tls %q %q", got.ServerName, got.ALPN, want.ServerName, want.SupportedProtos)
			}
		})
	}
}

// stdlibHello feeds b to a crypto/tls server and returns what it saw.
func stdlibHello(t *testing.T, b []byte) *tls.ClientHelloInfo {
	t.Helper()
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	got := make(chan *tls.ClientHelloInfo, 1)
	go func() {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write(b)
		io.Copy(io.Discard, c) // take the server's alert so it does not block
	}()
	s.SetDeadline(time.Now().Add(5 * time.Second))
	tls.Server(s, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		got <- h
		return nil, errors.New("captured")
	}}).Handshake()
	select {
	case h := <-got:
		return h
	default:
		t.Fatal("crypto/tls did not read a ClientHello")
		return nil
	}
}

func FuzzParseClientHello(f *testing.F) {
	files, _ := filepath.Glob("testdata/hello/*.bin")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Add(buildHello("a.example.com", []string{"h2"}, 0))
	f.Add(buildHello("split.example.com", []string{"h2", "http/1.1"}, 9))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseClientHello(b)
		var se *ShortError
		switch {
		case err == nil:
			if !hostChars([]byte(h.ServerName)) && h.ServerName != "" {
				t.Fatalf("server name %q escaped the check", h.ServerName)
			}
		case errors.As(err, &se):
			if se.Need <= len(b) || se.Need > MaxHelloPeek {
				t.Fatalf("need %d with %d bytes given", se.Need, len(b))
			}
		}
	})
}

// FuzzHelloRoundTrip builds a ClientHello from a name and ALPN list and
// checks the parser gives them back, however the records are split.
func FuzzHelloRoundTrip(f *testing.F) {
	f.Add("app.example.com", "h2", uint8(0))
	f.Add("x", "", uint8(3))
	f.Fuzz(func(t *testing.T, sni, proto string, split uint8) {
		if len(sni) > 255 || !hostChars([]byte(sni)) || len(proto) > 255 {
			t.Skip()
		}
		var alpn []string
		if proto != "" {
			alpn = []string{proto}
		}
		h, err := ParseClientHello(buildHello(sni, alpn, int(split)))
		if err != nil {
			t.Fatal(err)
		}
		want := sni
		if want != "" {
			want = lowerTrim(sni)
		}
		if h.ServerName != want || !slices.Equal(h.ALPN, alpn) {
			t.Fatalf("got %q %q, want %q %q", h.ServerName, h.ALPN, want, alpn)
		}
	})
}

func lowerTrim(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	if len(b) > 0 && b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	return string(b)
}
