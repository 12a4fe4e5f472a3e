package tunnel_test

import (
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/tunnel"
)

var proxyStatusCases = []struct {
	name          string
	lines         []string
	errType, dets string
}{
	{"none", nil, "", ""},
	{"one member", []string{`ferry; error=dns_error; details="NXDOMAIN for a.test"`}, "dns_error", "NXDOMAIN for a.test"},
	{"last member with an error wins", []string{`a; error=connection_refused, b; error=dns_timeout`}, "dns_timeout", ""},
	{"member without error after one with", []string{`a; error=connection_refused, b`}, "connection_refused", ""},
	{"two field lines", []string{`a; error=http_request_denied`, `b; error=destination_ip_prohibited`}, "destination_ip_prohibited", ""},
	{"string member name", []string{`"proxy.example"; error=connection_timeout`}, "connection_timeout", ""},
	{"escaped quotes in details", []string{`x; details="say \"hi\", \\ok"; error=dns_error`}, "dns_error", `say "hi", \ok`},
	{"comma inside a string", []string{`x; error=dns_error; details="a, b; c"`}, "dns_error", "a, b; c"},
	{"other parameters", []string{`x; received-status=503; next-hop=up.example; error=connection_refused`}, "connection_refused", ""},
	{"boolean parameter", []string{`x; cached; error=dns_error`}, "dns_error", ""},
	{"unterminated string keeps what came before", []string{`x; error=dns_error; details="abc`}, "dns_error", ""},
	{"garbage", []string{`;;;==,,`}, "", ""},
	{"control byte in string", []string{"x; error=dns_error; details=\"a\x01b\""}, "dns_error", ""},
}

func TestLastProxyStatusError(t *testing.T) {
	for _, tt := range proxyStatusCases {
		t.Run(tt.name, func(t *testing.T) {
			e, d := tunnel.LastProxyStatusError(tt.lines)
			if e != tt.errType || d != tt.dets {
				t.Errorf("= %q, %q; want %q, %q", e, d, tt.errType, tt.dets)
			}
		})
	}
}

func FuzzLastProxyStatusError(f *testing.F) {
	for _, tt := range proxyStatusCases {
		f.Add(strings.Join(tt.lines, "\n"))
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, d := tunnel.LastProxyStatusError(strings.Split(s, "\n"))
		if len(e) > len(s) || len(d) > len(s) {
			t.Fatalf("results longer than the input: %q %q", e, d)
		}
	})
}

var connectHeadCases = []struct {
	name    string
	head    string
	status  int
	errType string
	ok      bool
}{
	{"200", "HTTP/1.1 200 Connection established\r\n\r\n", 200, "", true},
	{"HTTP/1.0 200", "HTTP/1.0 200 OK\r\nProxy-Agent: x\r\n\r\n", 200, "", true},
	{"502 with Proxy-Status", "HTTP/1.1 502 Bad Gateway\r\nProxy-Status: p; error=dns_error\r\nContent-Length: 0\r\n\r\n", 502, "dns_error", true},
	{"407", "HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", 407, "", true},
	{"not HTTP", "SSH-2.0-x\r\n\r\n", 0, "", false},
	{"bad status", "HTTP/1.1 abc\r\n\r\n", 0, "", false},
	{"empty", "", 0, "", false},
}

func TestParseConnectHead(t *testing.T) {
	for _, tt := range connectHeadCases {
		t.Run(tt.name, func(t *testing.T) {
			status, e, _, err := tunnel.ParseConnectHead([]byte(tt.head))
			if (err == nil) != tt.ok || status != tt.status || e != tt.errType {
				t.Errorf("= %d %q %v; want %d %q ok=%v", status, e, err, tt.status, tt.errType, tt.ok)
			}
		})
	}
}

func FuzzParseConnectHead(f *testing.F) {
	for _, tt := range connectHeadCases {
		f.Add([]byte(tt.head))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		status, _, _, err := tunnel.ParseConnectHead(head)
		if err == nil && (status < 100 || status > 999) {
			t.Fatalf("accepted status %d", status)
		}
	})
}

var socksTranscriptCases = []struct {
	name  string
	b     []byte
	auth  bool
	stage int
	rep   byte
	ok    bool
}{
	{"refused", []byte{5, 0, 5, 5, 0, 1}, false, 3, 5, true},
	{"no acceptable method", []byte{5, 0xff}, true, 1, 0, true},
	{"auth failed", []byte{5, 2, 1, 1}, true, 2, 0, true},
	{"auth ok then denied", []byte{5, 2, 1, 0, 5, 2, 0}, true, 3, 2, true},
	{"not SOCKS5", []byte{4, 0}, false, 0, 0, false},
	{"cut short", []byte{5}, false, 0, 0, false},
	{"cut after auth", []byte{5, 2, 1, 0}, true, 0, 0, false},
	{"auth chosen but not offered", []byte{5, 2, 1, 0, 5, 0}, false, 0, 0, false},
}

func TestParseSOCKSTranscript(t *testing.T) {
	for _, tt := range socksTranscriptCases {
		t.Run(tt.name, func(t *testing.T) {
			stage, rep, ok := tunnel.ParseSOCKSTranscript(tt.b, tt.auth)
			if ok != tt.ok || ok && (stage != tt.stage || rep != tt.rep) {
				t.Errorf("= %d %d %v; want %d %d %v", stage, rep, ok, tt.stage, tt.rep, tt.ok)
			}
		})
	}
}

func FuzzParseSOCKSTranscript(f *testing.F) {
	for _, tt := range socksTranscriptCases {
		f.Add(tt.b, tt.auth)
	}
	f.Fuzz(func(t *testing.T, b []byte, auth bool) {
		tunnel.ParseSOCKSTranscript(b, auth) // must not panic
	})
}

var squidErrorCases = []struct {
	v    string
	want tunnel.Kind
	ok   bool
}{
	{"ERR_DNS_FAIL 0", tunnel.DNSFailed, true},
	{"ERR_CONNECT_FAIL 111", tunnel.Refused, true},
	{"ERR_CONNECT_FAIL 110", tunnel.Timeout, true},
	{"ERR_CONNECT_FAIL 113", tunnel.HostUnreachable, true},
	{"ERR_CONNECT_FAIL 61", tunnel.UpstreamFailed, true}, // another system's ECONNREFUSED
	{"ERR_CONNECT_FAIL", tunnel.UpstreamFailed, true},
	{"ERR_READ_TIMEOUT 0", tunnel.ResponseTimeout, true},
	{"ERR_CANNOT_FORWARD 0", tunnel.UpstreamFailed, true},
	{"ERR_SECURE_CONNECT_FAIL 71", tunnel.TLSFailed, true},
	{" ERR_INVALID_RESP 0 ", tunnel.BadGateway, true},
	{"ERR_ZERO_SIZE_OBJECT 0", tunnel.OK, false},
	{"err_dns_fail 0", tunnel.OK, false},
	{"", tunnel.OK, false},
}

func TestSquidErrorKind(t *testing.T) {
	for _, tt := range squidErrorCases {
		t.Run(tt.v, func(t *testing.T) {
			if k, ok := tunnel.SquidErrorKind(tt.v); ok != tt.ok || ok && k != tt.want {
				t.Errorf("= %v %v; want %v %v", k, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzSquidErrorKind(f *testing.F) {
	for _, tt := range squidErrorCases {
		f.Add(tt.v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if k, ok := tunnel.SquidErrorKind(v); ok && k.HTTPStatus() < 500 {
			t.Fatalf("%q reads as %v, not a server error", v, k)
		}
	})
}
