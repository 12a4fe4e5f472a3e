package test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestAccessLog checks the access log: exactly one access event per
// tunnel or plain-HTTP request, with the protocol, the client, the target
// asked for, the address dialed, the status and the bytes each way equal
// to what was sent.
func TestAccessLog(t *testing.T) {
	f := startFerry(t, minimalConfig)
	const up, down = 1000, 3000
	// The origin reads exactly up bytes, answers down bytes and closes.
	origin := tcpOrigin(t, func(c *net.TCPConn) {
		if _, err := io.CopyN(io.Discard, c, up); err != nil {
			return
		}
		c.Write(bytes.Repeat([]byte{'d'}, down))
	})
	originHTTP := tcpOrigin(t, func(c *net.TCPConn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		fmt.Fprintf(c, "HTTP/1.1 201 Created\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", down, bytes.Repeat([]byte{'d'}, down))
	})
	socks4 := func(t testing.TB, proxy, target string) *net.TCPConn {
		c := dial(t, proxy)
		// SOCKS4a: DSTIP 0.0.0.1, USERID "", then the name.
		host, _, _ := net.SplitHostPort(target)
		req := []byte{4, 1, byte(portOf(t, target) >> 8), byte(portOf(t, target)), 0, 0, 0, 1, 0}
		req = append(append(req, host...), 0)
		c.Write(req)
		var rep [8]byte
		if _, err := io.ReadFull(c, rep[:]); err != nil || rep[1] != 90 {
			t.Fatalf("SOCKS4a reply % x, %v", rep, err)
		}
		return c
	}
	localTarget := "localhost:" + strconv.Itoa(portOf(t, origin))

	tests := []struct {
		name, proto, target string
		open                func(testing.TB, string, string) *net.TCPConn
		status              int64
	}{
		{"CONNECT", "connect", origin, connectTunnel, 200},
		{"SOCKS5 by name", "socks5", localTarget, socks5Tunnel, 0},
		{"SOCKS4a by name", "socks4", localTarget, socks4, 90},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.open(t, f.Addr, tt.target)
			c.Write(bytes.Repeat([]byte{'u'}, up))
			got, err := io.ReadAll(c)
			if err != nil || len(got) != down {
				t.Fatalf("read %d bytes, %v; want %d", len(got), err, down)
			}
			c.Close()
			ev := f.WaitEvent("access", func(e Event) bool { return e.Str("client") == c.LocalAddr().String() })
			checkAccess(t, ev, tt.proto, tt.target, origin, tt.status, up, down)
		})
	}
	t.Run("plain HTTP POST", func(t *testing.T) {
		c := dial(t, f.Addr)
		fmt.Fprintf(c, "POST http://%s/upload HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s",
			originHTTP, originHTTP, up, bytes.Repeat([]byte{'u'}, up))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 201 || len(body) != down {
			t.Fatalf("got %d, %d bytes, %v", resp.StatusCode, len(body), err)
		}
		ev := f.WaitEvent("access", func(e Event) bool { return e.Str("client") == c.LocalAddr().String() })
		checkAccess(t, ev, "http", originHTTP, originHTTP, 201, up, down)
		if ev.Str("method") != "POST" || ev.Str("url") != "http://"+originHTTP+"/upload" {
			t.Errorf("access event %v: want method POST and the url", ev)
		}
	})

	// One event per request: none more after everything ended.
	if code := f.Stop(); code != 0 {
		t.Errorf("exit status %d", code)
	}
	if n := len(f.Events("access")); n != len(tests)+1 {
		t.Errorf("%d access events for %d requests", n, len(tests)+1)
	}
}

func checkAccess(t *testing.T, ev Event, proto, target, dialed string, status, up, down int64) {
	t.Helper()
	want := Event{"proto": proto, "target": target, "dialed": dialed, "status": float64(status),
		"bytes_up": float64(up), "bytes_down": float64(down), "route": "direct", "decision": "allow"}
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("access %s = %v, want %v (event %v)", k, ev[k], v, ev)
		}
	}
	for _, k := range []string{"id", "time", "client", "dial_ms", "dur_ms"} {
		if _, ok := ev[k]; !ok {
			t.Errorf("access event lacks %s: %v", k, ev)
		}
	}
	if _, ok := ev["err"]; ok {
		t.Errorf("access event has err: %v", ev)
	}
}

// TestDNSFailureAccessLine: a request whose name does not resolve, where
// a rule waits for the address, is logged with that rule and decision
// undecided, whatever the protocol (#16 item 5: both were empty). .invalid
// never resolves (RFC 6761 §6.4).
func TestDNSFailureAccessLine(t *testing.T) {
	f := startFerry(t, "[[listener]]\naddress = \"127.0.0.1:0\"\n[limits]\ndial_timeout = \"3s\"\n")
	const host = "ferry-test-dns.invalid"
	if status, _, c := rawConnect(t, f.Addr, host+":443"); status < 500 {
		t.Fatalf("CONNECT: %d, want a 5xx", status)
	} else {
		c.Close()
	}
	if rep, c := socks5Request(t, f.Addr, 1, socks5Addr(t, host+":443")); rep == 0 {
		t.Fatal("SOCKS5: succeeded")
	} else {
		c.Close()
	}
	c := dial(t, f.Addr)
	fmt.Fprintf(c, "GET http://%s/ HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host, host)
	if code, _, _ := readHead(c); code < 500 {
		t.Fatalf("GET: %d, want a 5xx", code)
	}
	c.Close()
	evs := f.WaitEvents("access", func(e Event) bool { return strings.Contains(e.Str("target"), host) }, 3)
	for _, ev := range evs {
		if ev.Str("rule") != "deny-internal-destinations" || ev.Str("decision") != "undecided" || !strings.Contains("dns_error connection_timeout", ev.Str("proxy_status")) {
			t.Errorf("%s access event %v: want rule deny-internal-destinations, decision undecided, a DNS error", ev.Str("proto"), ev)
		}
	}
}
