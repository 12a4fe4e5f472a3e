package socks

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/auth"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
	"golang.org/x/net/proxy"
)

func TestChooseMethod(t *testing.T) {
	tests := []struct {
		name      string
		offered   []byte
		required  bool
		haveUsers bool
		want      byte
	}{
		{"required, offers userpass", []byte{0x00, 0x02}, true, true, methodUserPass},
		{"required, only no-auth", []byte{0x00}, true, true, methodNoAcceptable},
		{"optional, both, with users", []byte{0x00, 0x02}, false, true, methodUserPass},
		{"optional, both, no users", []byte{0x00, 0x02}, false, false, methodNoAuth},
		{"optional, only no-auth", []byte{0x00}, false, true, methodNoAuth},
		{"optional, only userpass with users", []byte{0x02}, false, true, methodUserPass},
		{"optional, only userpass, no users", []byte{0x02}, false, false, methodNoAcceptable},
		{"gssapi only", []byte{0x01}, false, true, methodNoAcceptable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := chooseMethod(tt.offered, tt.required, tt.haveUsers); got != tt.want {
				t.Fatalf("chooseMethod = %#x, want %#x", got, tt.want)
			}
		})
	}
}

func TestReadUserPass(t *testing.T) {
	tests := []struct {
		name       string
		in         []byte
		user, pass string
		err        bool
	}{
		{"ok", []byte("\x01\x05alice\x06s3cr:t"), "alice", "s3cr:t", false},
		{"empty password", []byte("\x01\x01a\x00"), "a", "", false},
		{"bad version", []byte("\x05\x01a\x01b"), "", "", true},
		{"empty user", []byte("\x01\x00\x01b"), "", "", true},
		{"short", []byte("\x01\x05al"), "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, p, err := readUserPass(bytes.NewReader(tt.in))
			if (err != nil) != tt.err || u != tt.user || p != tt.pass {
				t.Fatalf("readUserPass = %q, %q, %v", u, p, err)
			}
		})
	}
}

func FuzzReadUserPass(f *testing.F) {
	f.Add([]byte("\x01\x05alice\x06s3cr:t"))
	f.Add([]byte("\x01\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		u, p, err := readUserPass(r)
		if err == nil && (len(u) == 0 || len(u) > 255 || len(p) > 255 || int(r.Size())-r.Len() != 3+len(u)+len(p)) {
			t.Fatalf("read %q %q: consumed %d of %d", u, p, int(r.Size())-r.Len(), len(in))
		}
	})
}

type fakeUsers struct{}

func (fakeUsers) Verify(_ context.Context, u, p string) (bool, error) {
	return u == "alice" && p == "right", nil
}

func (fakeUsers) Cached(u, p string) bool { return false }

func (fakeUsers) Throttle() auth.Throttle { return auth.Throttle{} }

type records struct{ ch chan *accesslog.Record }

func (r records) Write(rec *accesslog.Record) { r.ch <- rec }

// authWorld is a SOCKS server on loopback whose listener requires auth
// (SOCKS4 by user:password), and an echo target.
func authWorld(t *testing.T) (proxyAddr, target string, log chan *accesslog.Record) {
	t.Helper()
	engine := tunnel.New(tunnel.Config{}, &tunnel.Policy{Users: fakeUsers{},
		Listeners: map[string]tunnel.ListenerPolicy{"l": {Auth: true, SOCKS4Auth: true}}})
	log = make(chan *accesslog.Record, 16)
	s := New(engine, records{log}, zerolog.Nop())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ctx := tunnel.WithListener(context.Background(), "l")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				s.ServeConn(ctx, c, nil, func() { c.Close() })
			}()
		}
	}()
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String(), echo.Addr().String(), log
}

func TestSOCKS5Auth(t *testing.T) {
	addr, target, log := authWorld(t)
	t.Run("right password", func(t *testing.T) {
		d, _ := proxy.SOCKS5("tcp", addr, &proxy.Auth{User: "alice", Password: "right"}, proxy.Direct)
		c, err := d.Dial("tcp", target)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "ping")
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("echo %q, %v", buf, err)
		}
		c.Close()
		if rec := <-log; rec.User != "alice" || rec.Decision != "allow" {
			t.Fatalf("log user %q decision %q", rec.User, rec.Decision)
		}
	})
	t.Run("wrong password gets 0x01 and close", func(t *testing.T) {
		c := dial(t, addr)
		c.Write([]byte{5, 1, 2})
		expect(t, c, []byte{5, 2})
		c.Write([]byte("\x01\x05alice\x05wrong"))
		expect(t, c, []byte{1, 1})
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Fatalf("after failure: %v, want EOF", err)
		}
		if rec := <-log; rec.Method != "AUTH" || rec.Status != 1 || rec.User != "" || rec.Err == nil {
			t.Fatalf("log %+v", rec)
		}
	})
	t.Run("malformed subnegotiation gets 0x01 and close", func(t *testing.T) {
		c := dial(t, addr)
		c.Write([]byte{5, 1, 2})
		expect(t, c, []byte{5, 2})
		c.Write([]byte("\x05\x05alice\x05right")) // version 5, not RFC 1929's 1
		expect(t, c, []byte{1, 1})
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Fatalf("after failure: %v, want EOF", err)
		}
		if rec := <-log; rec.Method != "AUTH" || rec.Status != 1 || rec.Err == nil {
			t.Fatalf("log %+v", rec)
		}
	})
	t.Run("subnegotiation cut short is logged", func(t *testing.T) {
		c := dial(t, addr)
		c.Write([]byte{5, 1, 2})
		expect(t, c, []byte{5, 2})
		c.Write([]byte("\x01\x05ali"))
		c.(*net.TCPConn).CloseWrite()
		if got, err := io.ReadAll(c); len(got) > 0 || err != nil {
			t.Fatalf("after the cut: %q, %v; want EOF and nothing", got, err)
		}
		if rec := sink(log).next(t); rec.Method != "AUTH" || rec.Status != 1 || rec.ProxyStatus != "http_request_error" ||
			rec.Err == nil || !strings.Contains(rec.Err.Error(), "cut short") {
			t.Fatalf("log %+v, want AUTH 1 http_request_error, cut short", rec)
		}
	})
	t.Run("no-auth only gets 0xFF", func(t *testing.T) {
		c := dial(t, addr)
		c.Write([]byte{5, 1, 0})
		expect(t, c, []byte{5, 0xFF})
		if rec := <-log; rec.Method != "AUTH" || rec.Status != 0xFF || rec.Err == nil {
			t.Fatalf("log %+v, want an AUTH refusal, status 255", rec)
		}
	})
	t.Run("socks4 user:password", func(t *testing.T) {
		c := dial(t, addr)
		c.Write(socks4Connect(target, "alice:right"))
		expect(t, c, []byte{0, 90, 0, 0, 0, 0, 0, 0})
		c.Close()
		if rec := <-log; rec.User != "alice" {
			t.Fatalf("log user %q", rec.User)
		}
	})
	t.Run("socks4 without USERID gets 93 at once", func(t *testing.T) {
		c := dial(t, addr)
		c.Write(socks4Connect(target, ""))
		expect(t, c, []byte{0, 93, 0, 0, 0, 0, 0, 0})
		// "required", not "failed": a missing credential is not a wrong
		// guess, and costs no token of the limiter.
		if rec := <-log; rec.Status != 93 || rec.Err == nil || !strings.Contains(rec.Err.Error(), "required") {
			t.Fatalf("log status %d err %v; want 93, authentication required", rec.Status, rec.Err)
		}
	})
	t.Run("socks4 wrong gets 93", func(t *testing.T) {
		c := dial(t, addr)
		c.Write(socks4Connect(target, "alice"))
		expect(t, c, []byte{0, 93, 0, 0, 0, 0, 0, 0})
		if rec := <-log; rec.Status != 93 {
			t.Fatalf("log status %d", rec.Status)
		}
	})
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

func expect(t *testing.T, c net.Conn, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read % x, %v; want % x", got, err, want)
	}
}

func socks4Connect(target, userID string) []byte {
	ap := netip.MustParseAddrPort(target)
	b := []byte{4, 1, byte(ap.Port() >> 8), byte(ap.Port())}
	a := ap.Addr().As4()
	b = append(b, a[:]...)
	b = append(b, userID...)
	return append(b, 0)
}
