package connect_test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testnet"
	"github.com/ferry-proxy/ferry/tunnel"
)

func TestDialTimeoutIs504(t *testing.T) {
	hole := testnet.Blackhole(t)
	for _, req := range []string{
		"CONNECT " + hole + " HTTP/1.1\r\nHost: " + hole + "\r\n\r\n",
		"GET http://" + hole + "/ HTTP/1.1\r\nHost: " + hole + "\r\n\r\n",
	} {
		method, _, _ := strings.Cut(req, " ")
		t.Run(method, func(t *testing.T) {
			w := newWorld(t, options{engine: tunnel.Config{DialTimeout: 150 * time.Millisecond}})
			c := w.raw(t)
			c.send(t, req)
			resp, body := c.response(t, method)
			if resp.StatusCode != 504 {
				t.Errorf("status %d %q, want 504", resp.StatusCode, body)
			}
			if ps := resp.Header.Get("Proxy-Status"); !strings.HasPrefix(ps, "ferry; error=connection_timeout") {
				t.Errorf("Proxy-Status %q, want connection_timeout", ps)
			}
		})
	}
}

// TestSilentOriginIs504: an origin that accepts a plain-HTTP request and
// never answers is given up at the idle timeout when response_timeout is
// unset, as a tunnel to it would be, with 504, its Proxy-Status and an
// access event; not held forever.
func TestSilentOriginIs504(t *testing.T) {
	// Reads the request and never answers; closed at the end.
	target := rawServer(t, func(_ int, c net.Conn) { io.Copy(io.Discard, c) })
	w := newWorld(t, options{engine: tunnel.Config{IdleTimeout: 200 * time.Millisecond}})
	c := w.raw(t)
	c.send(t, "GET http://"+target+"/ HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	resp, body := c.response(t, "GET")
	if resp.StatusCode != 504 || !strings.Contains(body, "timeout") {
		t.Errorf("status %d %q, want 504 naming the timeout", resp.StatusCode, body)
	}
	// Connected, but no response from the next hop in time: RFC 9209's
	// http_response_timeout, not connection_timeout (no connection made).
	if ps := resp.Header.Get("Proxy-Status"); !strings.HasPrefix(ps, "ferry; error=http_response_timeout") {
		t.Errorf("Proxy-Status %q, want http_response_timeout", ps)
	}
	if rec := w.log.next(t); rec.Status != 504 || rec.Target != target || rec.Err == nil {
		t.Errorf("access record status %d target %q err %v; want 504, %s and the error", rec.Status, rec.Target, rec.Err, target)
	}
}
