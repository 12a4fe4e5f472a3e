package connect_test

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/cache"
	"github.com/ferry-proxy/ferry/connect"
	"github.com/ferry-proxy/ferry/connect/forward"
	"github.com/ferry-proxy/ferry/tunnel"
)

// TestOneFormOfTheHost is issue 20 item 3: a target name written with
// fullwidth letters, a Kelvin sign or an ideographic full stop is the same
// host as its ASCII form (UTS #46), and that one form is what the ACL
// decides on, what is dialed, what the origin gets as Host and what the
// log says; a name with no such form is refused with 400.
func TestOneFormOfTheHost(t *testing.T) {
	o, heads := recordingOrigin(t, nil)
	_, port, _ := net.SplitHostPort(o.host)
	if _, err := net.LookupHost("localhost"); err != nil {
		t.Skip("no localhost name here:", err)
	}
	w := newWorld(t, options{})
	for _, name := range []string{"ｌｏｃａｌｈｏｓｔ", "LocalHost。", "localhost."} {
		t.Run(name, func(t *testing.T) {
			c := w.raw(t)
			c.send(t, "GET http://"+name+":"+port+"/p HTTP/1.1\r\nHost: ignored.example\r\n\r\n")
			if resp, body := c.response(t, "GET"); resp.StatusCode != 200 {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
			if h := nextHead(t, heads); h.Get("X-Seen-Host") != "localhost:"+port {
				t.Errorf("origin got Host %q, want localhost:%s", h.Get("X-Seen-Host"), port)
			}
			if r := w.log.next(t); r.Target != "localhost:"+port || r.URL != "http://localhost:"+port+"/p" {
				t.Errorf("logged target %q url %q", r.Target, r.URL)
			}
		})
	}
	t.Run("CONNECT", func(t *testing.T) {
		c := w.raw(t)
		c.send(t, "CONNECT ｌｏｃａｌｈｏｓｔ:"+port+" HTTP/1.1\r\n\r\n")
		c.connected(t)
		c.Close()
		if r := w.log.next(t); r.Target != "localhost:"+port {
			t.Errorf("logged target %q", r.Target)
		}
	})
	t.Run("no such form", func(t *testing.T) {
		c := w.raw(t)
		c.send(t, "GET http://a..b:"+port+"/ HTTP/1.1\r\nHost: a..b\r\n\r\n")
		if resp, _ := c.response(t, "GET"); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want 400", resp.StatusCode)
		}
		if r := w.log.next(t); r.ProxyStatus != tunnel.BadRequest.ProxyStatus() {
			t.Errorf("logged %q", r.ProxyStatus)
		}
	})
}

// The cache keys a response by the one form of the host: the fullwidth
// spelling and the ASCII one are one resource, never two entries an
// attacker could poison apart.
func TestCacheKeyOneForm(t *testing.T) {
	if _, err := net.LookupHost("localhost"); err != nil {
		t.Skip("no localhost name here:", err)
	}
	o, heads := recordingOrigin(t, func(w http.ResponseWriter) { w.Header().Set("Cache-Control", "max-age=60") })
	_, port, _ := net.SplitHostPort(o.host)
	c, err := cache.New(cache.Config{MemoryBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, options{cfg: connect.Config{Forward: forward.Config{Cache: c}}})
	for i, name := range []string{"ｌｏｃａｌｈｏｓｔ", "localhost"} {
		rc := w.raw(t)
		rc.send(t, "GET http://"+name+":"+port+"/c HTTP/1.1\r\nHost: localhost\r\n\r\n")
		resp, _ := rc.response(t, "GET")
		hit := strings.HasPrefix(resp.Header.Get("Cache-Status"), "ferry; hit")
		if i == 0 {
			nextHead(t, heads)
		}
		if hit != (i == 1) {
			t.Errorf("%s: Cache-Status %q", name, resp.Header.Get("Cache-Status"))
		}
		w.log.next(t)
	}
}

// A port is one number however it is written: with leading zeros it is
// sent on as Host, logged and dialed in plain decimal, as a CONNECT to the
// same target is (RFC 3986 §6.2.3; RFC 9112 §3.2.2: Host is the target's
// authority); an empty port is left out; one that is no port gets 400.
func TestOneFormOfThePort(t *testing.T) {
	o, heads := recordingOrigin(t, nil)
	_, port, _ := net.SplitHostPort(o.host)
	w := newWorld(t, options{})
	t.Run("leading zeros", func(t *testing.T) {
		c := w.raw(t)
		c.send(t, "GET http://127.0.0.1:000"+port+"/p HTTP/1.1\r\nHost: 127.0.0.1:000"+port+"\r\n\r\n")
		if resp, body := c.response(t, "GET"); resp.StatusCode != 200 {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		if h := nextHead(t, heads); h.Get("X-Seen-Host") != o.host {
			t.Errorf("origin got Host %q, want %s", h.Get("X-Seen-Host"), o.host)
		}
		if r := w.log.next(t); r.Target != o.host || r.URL != "http://"+o.host+"/p" {
			t.Errorf("logged target %q url %q", r.Target, r.URL)
		}
	})
	t.Run("CONNECT leading zeros", func(t *testing.T) {
		c := w.raw(t)
		c.send(t, "CONNECT 127.0.0.1:000"+port+" HTTP/1.1\r\n\r\n")
		c.connected(t)
		c.Close()
		if r := w.log.next(t); r.Target != o.host {
			t.Errorf("logged target %q, want %s", r.Target, o.host)
		}
	})
	t.Run("empty port", func(t *testing.T) {
		c := w.raw(t)
		c.send(t, "GET http://127.0.0.1:/p HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
		c.response(t, "GET") // whatever port 80 of loopback says
		if r := w.log.next(t); r.Target != "127.0.0.1:80" || r.URL != "http://127.0.0.1/p" {
			t.Errorf("logged target %q url %q", r.Target, r.URL)
		}
	})
	for _, bad := range []string{"65536", "0", "00000", "99999999999999999999"} {
		t.Run("port "+bad, func(t *testing.T) {
			c := w.raw(t)
			c.send(t, "GET http://127.0.0.1:"+bad+"/p HTTP/1.1\r\nHost: 127.0.0.1:"+bad+"\r\n\r\n")
			if resp, _ := c.response(t, "GET"); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400", resp.StatusCode)
			}
			if r := w.log.next(t); r.ProxyStatus != tunnel.BadRequest.ProxyStatus() {
				t.Errorf("logged %q", r.ProxyStatus)
			}
		})
	}
}
