package test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"golang.org/x/net/proxy"
)

// TestSOCKS5Client drives ferry with golang.org/x/net/proxy's SOCKS5
// client, which sends names for ferry to resolve (remote DNS).
func TestSOCKS5Client(t *testing.T) {
	f := startFerry(t, minimalConfig)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello over socks, peer "+r.RemoteAddr)
	}))
	t.Cleanup(origin.Close)
	d, err := proxy.SOCKS5("tcp", f.Addr, nil, proxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	cd := d.(proxy.ContextDialer)

	t.Run("net/http over SOCKS5, remote DNS", func(t *testing.T) {
		tr := &http.Transport{DialContext: cd.DialContext}
		t.Cleanup(tr.CloseIdleConnections)
		target := "localhost:" + strconv.Itoa(portOf(t, origin.Listener.Addr().String()))
		resp, body := get(t, &http.Client{Transport: tr, Timeout: ioTimeout}, context.Background(), "http://"+target+"/")
		if resp.StatusCode != 200 || len(body) < len("hello over socks") || body[:16] != "hello over socks" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		tr.CloseIdleConnections()
		ev := f.WaitEvent("access", func(e Event) bool { return e.Str("target") == target })
		if ev.Str("proto") != "socks5" || ev.Str("method") != "CONNECT" || ev.Int("status") != 0 {
			t.Errorf("access event %v, want socks5 CONNECT status 0", ev)
		}
		if _, err := net.ResolveTCPAddr("tcp", ev.Str("dialed")); err != nil {
			t.Errorf("dialed %q is not the resolved address: %v", ev.Str("dialed"), err)
		}
	})

	t.Run("BND.ADDR is the outbound conn's local address", func(t *testing.T) {
		peers := make(chan string, 1)
		target := tcpOrigin(t, func(c *net.TCPConn) {
			peers <- c.RemoteAddr().String()
			io.Copy(io.Discard, c)
		})
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		c, err := cd.DialContext(ctx, "tcp", target)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		bound := c.(interface{ BoundAddr() net.Addr }).BoundAddr().String()
		if peer := <-peers; peer != bound {
			t.Errorf("origin sees ferry at %s, SOCKS5 reply said %s", peer, bound)
		}
	})
}

// TestSOCKSReplies sends hostile and failing SOCKS requests on raw sockets
// and checks each reply code (RFC 1928 §6) and its access event.
func TestSOCKSReplies(t *testing.T) {
	f := startFerry(t, minimalConfig+`
[limits]
dial_timeout = "500ms"
shutdown_grace = "2s"
`)
	refused := closedPort(t)
	silent := blackhole(t)
	tests := []struct {
		name        string
		cmd         byte
		addr        []byte
		rep         byte
		proxyStatus string
	}{
		{"refused", 1, socks5Addr(t, refused), 0x05, "connection_refused"},
		{"DNS failure", 1, socks5Domain("nonexistent.invalid", 80), 0x04, "dns_error"},
		{"dial timeout", 1, socks5Addr(t, silent), 0x04, "connection_timeout"},
		{"BIND for a name that does not resolve", 2, socks5Domain("nonexistent.invalid", 21), 0x04, "dns_error"},
		{"unknown command", 9, socks5Addr(t, refused), 0x07, "http_request_error"},
		{"unknown ATYP", 1, []byte{0x09}, 0x08, "http_request_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, c := socks5Request(t, f.Addr, tt.cmd, tt.addr)
			if rep != tt.rep {
				t.Fatalf("reply %#x, want %#x", rep, tt.rep)
			}
			// A refusal ends the conn: ferry closes it.
			if n, err := c.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("after the refusal read %d, %v; want EOF", n, err)
			}
			client := c.LocalAddr().String()
			ev := f.WaitEvent("access", func(e Event) bool { return e.Str("client") == client })
			if ev.Str("proto") != "socks5" || ev.Int("status") != int64(tt.rep) || ev.Str("proxy_status") != tt.proxyStatus {
				t.Errorf("access event %v, want socks5 status %d proxy_status %s", ev, tt.rep, tt.proxyStatus)
			}
		})
	}
}

// TestSOCKS4Refused: a SOCKS4 CONNECT that fails gets CD 91 (rejected).
func TestSOCKS4Refused(t *testing.T) {
	f := startFerry(t, minimalConfig)
	port := portOf(t, closedPort(t))
	c := dial(t, f.Addr)
	c.Write([]byte{4, 1, byte(port >> 8), byte(port), 127, 0, 0, 1, 0})
	var rep [8]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil || rep[0] != 0 || rep[1] != 91 {
		t.Fatalf("reply % x, %v; want 00 5b ...", rep, err)
	}
	ev := f.WaitEvent("access", func(e Event) bool { return e.Str("client") == c.LocalAddr().String() })
	if ev.Str("proto") != "socks4" || ev.Int("status") != 91 || ev.Str("proxy_status") != "connection_refused" {
		t.Errorf("access event %v, want socks4 status 91 connection_refused", ev)
	}
}
