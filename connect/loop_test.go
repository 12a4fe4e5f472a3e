package connect_test

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/connect"
	"github.com/ferry-proxy/ferry/connect/forward"
	"github.com/ferry-proxy/ferry/tunnel"
)

// named is a world whose Via name is via ("" the default), routed through
// the parent at parentAddr ("" direct), on ln (nil a new listener).
func named(t *testing.T, via, parentAddr string, ln net.Listener) *world {
	o := options{cfg: connect.Config{Forward: forward.Config{HTTP: forward.HTTP{ViaName: via}}}, ln: ln}
	if parentAddr != "" {
		o.policy = routed(t, tunnel.RoutingSpec{Upstreams: []tunnel.UpstreamSpec{upstream(t, "parent", "http://"+parentAddr)}, Default: "parent"})
	}
	return newWorld(t, o)
}

func listen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// A chain of parents that leads back to a ferry is a loop (RFC 9110
// §7.6.3): the ferry knows its own Via entry by its via name and answers
// 508 with proxy_loop_detected instead of sending the request round again.
// With the default name, every ferry's, a loop is known past 10 entries.
// Two ferries in a chain, with names of their own or both with the
// default (so no sign of a loop), serve it.
func TestViaLoopDetected(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Via", strings.Join(r.Header.Values("Via"), ", "))
	})
	loops := map[string]func(t *testing.T) *world{
		"its own parent": func(t *testing.T) *world {
			ln := listen(t)
			return named(t, "edge", ln.Addr().String(), ln)
		},
		"default names": func(t *testing.T) *world {
			ln := listen(t)
			return named(t, "", ln.Addr().String(), ln)
		},
		"through another ferry": func(t *testing.T) *world {
			ln := listen(t)
			b := named(t, "b", ln.Addr().String(), nil)
			return named(t, "a", b.addr, ln)
		},
	}
	for name, build := range loops {
		t.Run(name, func(t *testing.T) {
			w := build(t)
			c := w.raw(t)
			c.send(t, "GET http://"+o.host+"/ HTTP/1.1\r\nHost: "+o.host+"\r\n\r\n")
			resp, body := c.response(t, http.MethodGet)
			if resp.StatusCode != http.StatusLoopDetected || !strings.Contains(resp.Header.Get("Proxy-Status"), "error=proxy_loop_detected") {
				t.Fatalf("%d %q, Proxy-Status %q; want 508 proxy_loop_detected", resp.StatusCode, body, resp.Header.Get("Proxy-Status"))
			}
		})
	}
	chains := []struct{ name, a, b, want string }{
		{"two names", "a", "b", "1.1 a, 1.1 b"},
		{"the default twice", "", "", "1.1 ferry, 1.1 ferry"},
		{"a name and the default", "ferry", "b", "1.1 ferry, 1.1 b"},
	}
	for _, tt := range chains {
		t.Run("chain of "+tt.name, func(t *testing.T) {
			b := named(t, tt.b, "", nil)
			a := named(t, tt.a, b.addr, nil)
			c := a.raw(t)
			c.send(t, "GET http://"+o.host+"/ HTTP/1.1\r\nHost: "+o.host+"\r\n\r\n")
			resp, body := c.response(t, http.MethodGet)
			if resp.StatusCode != 200 || resp.Header.Get("X-Seen-Via") != tt.want {
				t.Fatalf("%d %q, origin saw Via %q; want 200 and %q", resp.StatusCode, body, resp.Header.Get("X-Seen-Via"), tt.want)
			}
		})
	}
}

// The entry is this ferry's when its received-by is the via name, in any
// case, whatever the protocol's spelling and comment; a name that only
// begins the same, or stands in a comment, is another's.
func TestViaLoopEntries(t *testing.T) {
	o := newOrigin(t, func(http.ResponseWriter, *http.Request) {})
	edge := named(t, "edge", "", nil)
	dflt := named(t, "", "", nil)
	tests := []struct {
		name, via string
		w         *world
		status    int
	}{
		{"same name", "1.1 edge", edge, 508},
		{"other case", "1.1 EDGE", edge, 508},
		{"protocol name and comment", "HTTP/1.1 edge (ferry, x)", edge, 508},
		{"after others", "1.0 corp, 2 cdn (a, b)", edge, 200},
		{"later entry", "1.0 corp (a, b),1.1\tedge", edge, 508},
		{"a longer name", "1.1 edge-2", edge, 200},
		{"in a comment", "1.1 corp (1.1 edge)", edge, 200},
		{"the default name", "1.1 ferry", dflt, 200},
		{"the default name 10 times", strings.Repeat("1.1 ferry, ", 9) + "1.1 ferry", dflt, 200},
		{"the default name 11 times", strings.Repeat("1.1 ferry, ", 10) + "1.1 ferry", dflt, 508},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.w.raw(t)
			c.send(t, "GET http://"+o.host+"/ HTTP/1.1\r\nHost: "+o.host+"\r\nVia: "+tt.via+"\r\n\r\n")
			if resp, body := c.response(t, http.MethodGet); resp.StatusCode != tt.status {
				t.Errorf("Via %q: %d %q, want %d", tt.via, resp.StatusCode, body, tt.status)
			}
			tt.w.log.next(t)
		})
	}
}
