package main

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestParseConnectReply(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantHead   int
		wantStatus int
		wantErr    bool
	}{
		{"squid", "HTTP/1.1 200 Connection established\r\n\r\n", 39, 200, false},
		{"tinyproxy, with a header and tunnel bytes after", "HTTP/1.0 200 Connection established\r\nProxy-agent: tinyproxy/1.11.1\r\n\r\nxyz", 70, 200, false},
		{"incomplete", "HTTP/1.1 200 OK\r\n", 0, 0, false},
		{"denied", "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", 45, 403, false},
		{"garbage", "SSH-2.0-x\r\n\r\n", 0, 0, true},
		{"short code", "HTTP/1.1 20\r\n\r\n", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head, status, err := parseConnectReply([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (head != tt.wantHead || status != tt.wantStatus) {
				t.Errorf("parseConnectReply = %d, %d; want %d, %d", head, status, tt.wantHead, tt.wantStatus)
			}
		})
	}
}

func TestSocks5ReplyRest(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    int
		wantErr bool
	}{
		{"IPv4", []byte{5, 0, 0, 1}, 6, false},
		{"IPv6", []byte{5, 0, 0, 4}, 18, false},
		{"domain", []byte{5, 0, 0, 3}, 0, false},
		{"refused", []byte{5, 5, 0, 1}, 0, true},
		{"not SOCKS5", []byte{4, 0, 0, 1}, 0, true},
		{"bad ATYP", []byte{5, 0, 0, 9}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := socks5ReplyRest(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("socks5ReplyRest = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseRespHead(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    respHead
		wantErr bool
	}{
		{"1.1 keep-alive", "HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n", respHead{200, 1024, false, false}, false},
		{"1.1 close, any case", "HTTP/1.1 200 OK\r\nCONNECTION: Close\r\ncontent-length: 5\r\n\r\n", respHead{200, 5, false, true}, false},
		{"1.0 closes by default", "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", respHead{200, 5, false, true}, false},
		{"1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\n", respHead{200, 5, false, false}, false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", respHead{200, -1, true, false}, false},
		{"no length", "HTTP/1.1 200 OK\r\n\r\n", respHead{200, -1, false, false}, false},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n", respHead{}, true},
		{"gzip coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", respHead{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRespHead([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("parseRespHead = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseHex(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"400", 1024, true}, {"fF", 255, true}, {"a;ext=1", 10, true}, {" 0 ", 0, true},
		{"", 0, false}, {"x", 0, false}, {"1000000000000000", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseHex([]byte(tt.in))
			if ok != tt.ok || got != tt.want {
				t.Errorf("parseHex(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzParseReplies(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 Connection established\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 20\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		head, _, err := parseConnectReply(b)
		if err == nil && head > len(b) {
			t.Fatalf("head %d past the input (%d)", head, len(b))
		}
		if err == nil && head > 0 {
			parseRespHead(b[:head])
		}
		socks5ReplyRest(b)
		parseHex(b)
	})
}

// world is an echo origin, an HTTP origin and two minimal proxies in front
// of them, all on 127.0.0.1:0: enough to check the client's handshakes and
// parsing against real sockets (one operation each; no load).
func startOrigin(t *testing.T, serve func(*origin, *net.TCPConn)) *origin {
	t.Helper()
	o, err := listenOrigin("", serve)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.close)
	return o
}

// fakeProxy accepts one kind of handshake, answers reply, dials target and
// relays.
func fakeProxy(t *testing.T, handshake func(c net.Conn) error, target netip.AddrPort) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if err := handshake(c); err != nil {
					return
				}
				s, err := net.Dial("tcp", target.String())
				if err != nil {
					return
				}
				defer s.Close()
				go func() { io.Copy(s, c); s.(*net.TCPConn).CloseWrite() }()
				io.Copy(c, s)
			}()
		}
	}()
	return ln.Addr().String()
}

func readExactly(c net.Conn, want []byte) error {
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got) != string(want) {
		return errors.New("unexpected handshake bytes")
	}
	return nil
}

func TestEchoThroughProxies(t *testing.T) {
	echo := startOrigin(t, serveEcho)
	target := echo.addr()
	connectReq := "CONNECT " + target.String() + " HTTP/1.1\r\nHost: " + target.String() + "\r\n\r\n"
	connectProxy := fakeProxy(t, func(c net.Conn) error {
		if err := readExactly(c, []byte(connectReq)); err != nil {
			return err
		}
		_, err := io.WriteString(c, "HTTP/1.0 200 Connection established\r\nProxy-agent: test\r\n\r\n")
		return err
	}, target)
	socksProxy := fakeProxy(t, func(c net.Conn) error {
		if err := readExactly(c, []byte{5, 1, 0}); err != nil {
			return err
		}
		c.Write([]byte{5, 0})
		ip := target.Addr().As4()
		if err := readExactly(c, []byte{5, 1, 0, 1, ip[0], ip[1], ip[2], ip[3], byte(target.Port() >> 8), byte(target.Port())}); err != nil {
			return err
		}
		_, err := c.Write([]byte{5, 0, 0, 3, 4, 'h', 'o', 's', 't', 0, 1}) // a domain BND.ADDR
		return err
	}, target)

	tests := []struct {
		name  string
		v     via
		proxy string
	}{
		{"direct", viaDirect, ""},
		{"CONNECT", viaCONNECT, connectProxy},
		{"SOCKS5", viaSOCKS5, socksProxy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRoute(tt.v, tt.proxy, target)
			buf := make([]byte, replyBuf)
			for range 3 {
				d, err := echoOnce(r, buf)
				if err != nil {
					t.Fatalf("echoOnce: %v", err)
				}
				if d <= 0 {
					t.Fatalf("latency %v, want > 0", d)
				}
			}
		})
	}
}

func TestEchoRefusedProxy(t *testing.T) {
	echo := startOrigin(t, serveEcho)
	denying := fakeProxy(t, func(c net.Conn) error {
		io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
		return errors.New("denied")
	}, echo.addr())
	_, err := echoOnce(newRoute(viaCONNECT, denying, echo.addr()), make([]byte, replyBuf))
	if err == nil || err.Error() != "CONNECT answered 403" {
		t.Fatalf("err = %v, want CONNECT answered 403", err)
	}
}

func TestHTTPKeepAlive(t *testing.T) {
	o := startOrigin(t, serveHTTP)
	h := newHTTPConn(newHTTPTarget("", o.addr()))
	t.Cleanup(h.close)
	for i := range 5 {
		if err := h.roundTrip(); err != nil {
			t.Fatalf("round trip %d: %v", i, err)
		}
	}
	if h.dials != 1 {
		t.Errorf("dials = %d, want 1 (keep-alive)", h.dials)
	}
}

// An origin that answers chunked (with a trailer) and closes after each
// response: the client reads it all and dials again.
func TestHTTPChunkedAndClose(t *testing.T) {
	o := startOrigin(t, func(_ *origin, c *net.TCPConn) {
		buf := make([]byte, 4096)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(buf); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"+
			"4\r\nabcd\r\n400;x=y\r\n"+string(make([]byte, 1024))+"\r\n0\r\nX-T: 1\r\n\r\n")
	})
	h := newHTTPConn(newHTTPTarget("", o.addr()))
	t.Cleanup(h.close)
	for i := range 3 {
		if err := h.roundTrip(); err != nil {
			t.Fatalf("round trip %d: %v", i, err)
		}
	}
	if h.dials != 3 {
		t.Errorf("dials = %d, want 3 (the origin closes each time)", h.dials)
	}
}

// An origin that says HTTP/1.1 without "Connection: close" and closes
// anyway (as tinyproxy does): the next request on that connection meets
// EOF and is sent again on a new one, not counted as an error.
func TestHTTPRetryOnSilentClose(t *testing.T) {
	o := startOrigin(t, func(_ *origin, c *net.TCPConn) {
		buf := make([]byte, 4096)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(buf); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	h := newHTTPConn(newHTTPTarget("", o.addr()))
	t.Cleanup(h.close)
	for i := range 3 {
		if err := h.roundTrip(); err != nil {
			t.Fatalf("round trip %d: %v", i, err)
		}
	}
	if h.dials != 3 {
		t.Errorf("dials = %d, want 3", h.dials)
	}
}
