package test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// Hostile and odd first bytes on a reverse TLS listener: each gets a clear
// outcome (routed, an unrecognized_name alert, or a close) and one access
// line saying why, soon, never when handshake_timeout ends it unless the
// client went silent; and no connection stays open after. "edge" waits
// a minute for a ClientHello, "slow" 300ms.
func TestReverseHostileClients(t *testing.T) {
	pki := newRevPKI(t)
	_, _, cert := pki.leaf(t, "backend-a", "a.example.test")
	a := startRevBackend(t, "A", &cert, false)
	f := startReverse(t, revHead+fmt.Sprintf(`
[admin]
address = "127.0.0.1:0"

[[reverse]]
name = "edge"
address = "127.0.0.1:0"
mode = "tls"
handshake_timeout = "60s"
  [[reverse.route]]
  name = "ra"
  server_names = ["a.example.test"]
  backends = [{ address = %[1]q }]

[[reverse]]
name = "slow"
address = "127.0.0.1:0"
mode = "tls"
handshake_timeout = "300ms"
  [[reverse.route]]
  server_names = ["a.example.test"]
  backends = [{ address = %[1]q }]
`, a.addr))
	edge, slow := f.AddrOf("edge"), f.AddrOf("slow")
	hello := clientHello(t, &tls.Config{ServerName: "a.example.test", NextProtos: []string{"h2", "http/1.1"}})
	big := &tls.Config{ServerName: "a.example.test"}
	for i := range 100 { // about 20 KiB of ALPN: two records
		big.NextProtos = append(big.NextProtos, fmt.Sprintf("p%0198d", i))
	}
	bigHello := clientHello(t, big)

	tests := []struct {
		name   string
		addr   string
		client func(t *testing.T, c *net.TCPConn) // sends, then leaves or closes
		status int
		err    string // in the access line's err (a relay's end is the client's close)
		fast   bool   // before any handshake_timeout
	}{
		{"hello in 1-byte records, a segment each", edge, func(t *testing.T, c *net.TCPConn) {
			tc := tls.Client(&reframing{TCPConn: c, size: 1}, &tls.Config{ServerName: "a.example.test", RootCAs: pki.roots})
			g, err := revGreeting(tc)
			if err != nil || g != "A" {
				t.Fatalf("greeting %q, %v; want the backend's through a passthrough", g, err)
			}
			tc.Close()
		}, 200, "", true},
		{"server name in upper case", edge, func(t *testing.T, c *net.TCPConn) {
			tc := tls.Client(c, &tls.Config{ServerName: "A.EXAMPLE.Test", RootCAs: pki.roots})
			if g, err := revGreeting(tc); err != nil || g != "A" {
				t.Fatalf("greeting %q, %v", g, err)
			}
			tc.Close()
		}, 200, "", true},
		{"no server name, no default route", edge, func(t *testing.T, c *net.TCPConn) {
			err := tls.Client(c, &tls.Config{InsecureSkipVerify: true}).Handshake()
			if err == nil || !strings.Contains(err.Error(), "unrecognized name") {
				t.Fatalf("handshake: %v, want an unrecognized_name alert", err)
			}
		}, 421, "without server name", true},
		{"ClientHello over two records, past the bound", edge, func(t *testing.T, c *net.TCPConn) {
			c.Write(bigHello)
			readToEOF(t, c)
		}, 400, "ClientHello larger than", true},
		{"not TLS", edge, func(t *testing.T, c *net.TCPConn) {
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.example.test\r\n\r\n")
			readToEOF(t, c)
		}, 400, "not a TLS handshake", true},
		{"SSLv2-style hello", edge, func(t *testing.T, c *net.TCPConn) {
			c.Write([]byte{0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10})
			readToEOF(t, c)
		}, 400, "not a TLS handshake", true},
		{"closed mid-hello", edge, func(t *testing.T, c *net.TCPConn) {
			c.Write(hello[:len(hello)/2])
			c.CloseWrite()
			readToEOF(t, c)
		}, 400, "unexpected EOF", true},
		{"reset mid-hello", edge, func(t *testing.T, c *net.TCPConn) {
			c.Write(hello[:len(hello)/2])
			c.SetLinger(0)
			c.Close()
		}, 400, "connection reset by peer", true},
		{"silent", slow, func(t *testing.T, c *net.TCPConn) {
			readToEOF(t, c)
		}, 400, "handshake_timeout", false},
		{"stalled mid-hello", slow, func(t *testing.T, c *net.TCPConn) {
			c.Write(hello[:len(hello)/2])
			readToEOF(t, c)
		}, 400, "handshake_timeout", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", tt.addr, ioTimeout)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(ioTimeout))
			client := c.LocalAddr().String()
			tt.client(t, c.(*net.TCPConn))
			ev := f.WaitEvent("access", func(e Event) bool { return e.Str("client") == client })
			if ev.Int("status") != int64(tt.status) || !strings.Contains(ev.Str("err"), tt.err) {
				t.Fatalf("access line status %v err %q, want %d and %q", ev["status"], ev.Str("err"), tt.status, tt.err)
			}
			if tt.fast && ev.Int("dur_ms") >= 30_000 {
				t.Errorf("took %d ms: held until a deadline", ev.Int("dur_ms"))
			}
		})
	}
	admin := f.AddrOf("admin")

	// A connect-and-close and a connect-and-reset with no byte sent (a
	// balancer's health check) are no request: no access line, as on a
	// forward listener, and nothing left open.
	accepted := func(ms metrics) float64 {
		return ms.val("ferry_connections_accepted_total", "listener", "edge", "protocol", "tls")
	}
	before := accepted(scrape(t, admin))
	var nulls []string
	for _, reset := range []bool{false, true} {
		c, err := net.DialTimeout("tcp", edge, ioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		nulls = append(nulls, c.LocalAddr().String())
		if reset {
			c.(*net.TCPConn).SetLinger(0)
		}
		c.Close()
	}
	if _, ok := waitMetrics(t, admin, eventTimeout, func(ms metrics) bool {
		return accepted(ms) == before+2 && ms.val("ferry_connections_active", "listener", "edge", "protocol", "tls") == 0
	}); !ok {
		t.Fatal("the empty connections were not accepted and ended")
	}
	// A line for them would come before this one's.
	probe, err := net.DialTimeout("tcp", edge, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(probe, "not TLS\r\n\r\n")
	readToEOF(t, probe.(*net.TCPConn))
	probe.Close()
	f.WaitEvent("access", func(e Event) bool { return e.Str("client") == probe.LocalAddr().String() })
	for _, e := range f.Events("access") {
		for _, n := range nulls {
			if e.Str("client") == n {
				t.Errorf("an access line for an empty connection: %v", e)
			}
		}
	}

	ms, ok := waitMetrics(t, admin, eventTimeout, func(ms metrics) bool {
		return ms.val("ferry_connections_active", "listener", "edge", "protocol", "tls") == 0 &&
			ms.val("ferry_connections_active", "listener", "slow", "protocol", "tls") == 0
	})
	if !ok {
		t.Errorf("connections still open after every client finished: edge %v, slow %v",
			ms.val("ferry_connections_active", "listener", "edge", "protocol", "tls"),
			ms.val("ferry_connections_active", "listener", "slow", "protocol", "tls"))
	}
	// The 7 rows refused, and the probe; not the empty connections.
	if n := ms.val("ferry_requests_total", "outcome", "http_request_error", "proto", "tls"); n != 8 {
		t.Errorf("ferry_requests_total{outcome=http_request_error} %v, want 8", n)
	}
}

// clientHello is the ClientHello record(s) crypto/tls sends for cfg.
func clientHello(t *testing.T, cfg *tls.Config) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer b.Close()
	go func() {
		tls.Client(a, cfg).Handshake()
		a.Close()
	}()
	b.SetReadDeadline(time.Now().Add(ioTimeout))
	var out []byte
	for {
		hdr := make([]byte, 5)
		if _, err := io.ReadFull(b, hdr); err != nil {
			t.Fatal(err)
		}
		rec := make([]byte, int(hdr[3])<<8|int(hdr[4]))
		if _, err := io.ReadFull(b, rec); err != nil {
			t.Fatal(err)
		}
		out = append(append(out, hdr...), rec...)
		// Records of the ClientHello until its handshake length is met.
		if msg := out[5:]; len(msg) >= 4 && recordsPayload(out) >= 4+(int(msg[1])<<16|int(msg[2])<<8|int(msg[3])) {
			return out
		}
	}
}

// recordsPayload is the total payload of the records in b.
func recordsPayload(b []byte) int {
	n := 0
	for len(b) >= 5 {
		l := int(b[3])<<8 | int(b[4])
		n += l
		b = b[5+l:]
	}
	return n
}

// readToEOF reads until ferry closes the conn, which must happen before
// the conn's deadline.
func readToEOF(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := io.Copy(io.Discard, c); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("ferry did not close the connection: %v", err)
	}
}

// reframing sends its first write, a ClientHello record, again as records
// of at most size bytes of payload, each in a write of its own (a segment
// of its own: Go sets TCP_NODELAY).
type reframing struct {
	*net.TCPConn
	size int
	done bool
}

func (r *reframing) Write(b []byte) (int, error) {
	if r.done || len(b) < 5 || b[0] != 22 {
		return r.TCPConn.Write(b)
	}
	r.done = true
	hdr, body := b[:5], b[5:]
	for len(body) > 0 {
		n := min(r.size, len(body))
		rec := append([]byte{hdr[0], hdr[1], hdr[2], byte(n >> 8), byte(n)}, body[:n]...)
		if _, err := r.TCPConn.Write(rec); err != nil {
			return 0, err
		}
		body = body[n:]
	}
	return len(b), nil
}
