package connect_test

import (
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
