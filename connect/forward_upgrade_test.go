package connect_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
)

// An Upgrade (WebSocket-style) gets the origin's 101, then the conn is a
// raw byte pipe both ways.
func TestForwardUpgrade(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" || !strings.EqualFold(r.Header.Get("Connection"), "upgrade") {
			http.Error(w, "not an upgrade: "+fmt.Sprint(r.Header), 400)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(bound))
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nserver-first")
		buf := make([]byte, 4)
		if _, err := io.ReadFull(brw, buf); err == nil {
			c.Write(append([]byte("echo:"), buf...))
		}
	})
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "GET "+o.URL+"/ws HTTP/1.1\r\nHost: "+o.host+"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "websocket" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("got %d %v %q, want 101 with Upgrade: websocket", resp.StatusCode, resp.Header, b)
	}
	first := make([]byte, len("server-first"))
	if _, err := io.ReadFull(c.br, first); err != nil || string(first) != "server-first" {
		t.Fatalf("server→client after 101: %q, %v", first, err)
	}
	c.send(t, "ping")
	echo := make([]byte, len("echo:ping"))
	if _, err := io.ReadFull(c.br, echo); err != nil || string(echo) != "echo:ping" {
		t.Fatalf("client→server→client after 101: %q, %v", echo, err)
	}
	c.Close() // the record is written when the upgraded conn ends
	r := w.log.next(t)
	if r.Status != http.StatusSwitchingProtocols {
		t.Errorf("access record status %d, want 101", r.Status)
	}
}

// After a 101 the exchange ends like an idle tunnel: a client that left
// while the origin stays silent (and keeps its side open) does not hold
// the connection, nor its slot, for ever. The access event says why and
// counts the bytes that moved after the 101.
func TestForwardUpgradeIdle(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(bound))
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
		buf := make([]byte, 4)
		io.ReadFull(brw, buf)
		c.Write([]byte("pong"))
		<-release // silent, and open, whatever the proxy does
	})
	w := newWorld(t, options{engine: tunnel.Config{IdleTimeout: 200 * time.Millisecond}})
	c := w.raw(t)
	c.send(t, "GET "+o.URL+"/up HTTP/1.1\r\nHost: "+o.host+"\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
	resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade answer %v, %v; want 101", resp, err)
	}
	c.send(t, "ping")
	pong := make([]byte, 4)
	if _, err := io.ReadFull(c.br, pong); err != nil || string(pong) != "pong" {
		t.Fatalf("after the 101: %q, %v", pong, err)
	}
	c.Close() // gone; the origin says nothing and keeps its side open
	r := w.log.next(t)
	if r.Status != http.StatusSwitchingProtocols || !errors.Is(r.Err, tunnel.ErrIdle) || r.BytesUp != 4 || r.BytesDown != 4 {
		t.Fatalf("record: status %d, err %v, %d up, %d down; want 101, idle timeout, 4 up, 4 down",
			r.Status, r.Err, r.BytesUp, r.BytesDown)
	}
}

// An Upgrade in an HTTP/1.0 request is ignored (RFC 9110 §7.8: MUST), so
// the origin is not asked to switch, and a 101 it sends all the same is
// unasked (502): an HTTP/1.0 client gets no 1xx (§15.2).
func TestForwardUpgradeIgnoredOnHTTP10(t *testing.T) {
	const upgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\n"
	t.Run("not asked", func(t *testing.T) {
		o, seen := capturingOrigin(t)
		w := newWorld(t, options{})
		c := w.raw(t)
		c.send(t, "GET "+o.URL+"/ws HTTP/1.0\r\n"+upgrade+"\r\n")
		if resp, _ := c.response(t, "GET"); resp.StatusCode != 200 {
			t.Errorf("status %d, want the origin's 200", resp.StatusCode)
		}
		r := nextSeen(t, seen)
		if r.header.Get("Upgrade") != "" || strings.Contains(strings.ToLower(r.header.Get("Connection")), "upgrade") {
			t.Errorf("origin got Upgrade %q, Connection %q; want neither", r.header.Get("Upgrade"), r.header.Get("Connection"))
		}
	})
	t.Run("switched unasked", func(t *testing.T) {
		o := rawServer(t, func(_ int, c net.Conn) {
			http.ReadRequest(bufio.NewReader(c))
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\n"+upgrade+"\r\nraw")
		})
		w := newWorld(t, options{})
		c := w.raw(t)
		c.send(t, "GET http://"+o+"/ws HTTP/1.0\r\n"+upgrade+"\r\n")
		if resp, _ := c.response(t, "GET"); resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Proxy-Status") == "" {
			t.Errorf("status %d %q, want 502 with Proxy-Status", resp.StatusCode, resp.Header.Get("Proxy-Status"))
		}
	})
}
