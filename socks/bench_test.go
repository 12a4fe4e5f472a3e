package socks

import (
	"io"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testnet"
)

// BenchmarkHandshake is one short connection per op: "direct" dials the
// echo target, sends one byte, reads it back and closes; "socks5" does the
// same through ferry (greeting, CONNECT, reply, then the byte). The ratio
// of the two ns/op figures of one run is what the handshake costs.
func BenchmarkHandshake(b *testing.B) {
	e, err := startEcho(b, "tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := e.addr.Port()
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, err := net.Dial("tcp", e.addr.String())
			if err != nil {
				b.Fatal(err)
			}
			echoByte(b, c)
		}
	})
	b.Run("socks5", func(b *testing.B) {
		w := newWorld(b)
		b.ReportAllocs()
		for b.Loop() {
			c, err := net.Dial("tcp", w.addr)
			if err != nil {
				b.Fatal(err)
			}
			if rep, _ := connect5(b, c, cmdConnect, atypIPv4, ip4("127.0.0.1"), port); rep != repSucceeded {
				b.Fatalf("reply %#x", rep)
			}
			echoByte(b, c)
		}
	})
}

func echoByte(b *testing.B, c net.Conn) {
	defer c.Close()
	if _, err := c.Write([]byte{'x'}); err != nil {
		b.Fatal(err)
	}
	var one [1]byte
	if _, err := io.ReadFull(c, one[:]); err != nil || one[0] != 'x' {
		b.Fatalf("echo: %q, %v", one[:], err)
	}
}

// BenchmarkBulk is one-way bulk throughput of one tunnel: "direct" is a
// plain loopback connection to the target, "socks5" one SOCKS5 tunnel
// through ferry to the same target. Compare the MB/s of one run.
func BenchmarkBulk(b *testing.B) {
	const chunk = 128 << 10
	addr, accepted := testnet.Accepted(b)
	target := netip.MustParseAddrPort(addr)
	b.Run("direct", func(b *testing.B) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		dst := <-accepted
		defer dst.Close()
		testnet.Bulk(b, c, dst, chunk)
	})
	b.Run("socks5", func(b *testing.B) {
		w := newWorld(b)
		c := w.dial(b)
		if rep, _ := connect5(b, c, cmdConnect, atypIPv4, ip4("127.0.0.1"), target.Port()); rep != repSucceeded {
			b.Fatalf("reply %#x", rep)
		}
		dst := <-accepted
		defer dst.Close()
		testnet.Bulk(b, c, dst, chunk)
	})
}

// BenchmarkIdleTunnel reports what an idle tunnel costs in Go heap and
// goroutine stacks (kernel socket buffers are not counted), for 256
// tunnels held open at once: "direct" is 256 loopback connections (both
// ends in this process), "socks5" 256 SOCKS5 tunnels, which also hold the
// client and target ends. The difference per tunnel is ferry's share.
func BenchmarkIdleTunnel(b *testing.B) {
	const n = 256
	e, err := startEcho(b, "tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	open := map[string]func(b *testing.B, w *world) net.Conn{
		"direct": func(b *testing.B, _ *world) net.Conn {
			c, err := net.Dial("tcp", e.addr.String())
			if err != nil {
				b.Fatal(err)
			}
			return c
		},
		"socks5": func(b *testing.B, w *world) net.Conn {
			c, err := net.Dial("tcp", w.addr)
			if err != nil {
				b.Fatal(err)
			}
			if rep, _ := connect5(b, c, cmdConnect, atypIPv4, ip4("127.0.0.1"), e.addr.Port()); rep != repSucceeded {
				b.Fatalf("reply %#x", rep)
			}
			return c
		},
	}
	for _, name := range []string{"direct", "socks5"} {
		b.Run(name, func(b *testing.B) {
			w := newWorld(b)
			var used, tunnels int64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				conns := make([]net.Conn, n)
				for i := range conns {
					conns[i] = open[name](b, w)
					// One echoed byte: the tunnel is fully up, then idle.
					conns[i].Write([]byte{'x'})
					io.ReadFull(conns[i], make([]byte, 1))
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				used += int64(after.HeapAlloc+after.StackInuse) - int64(before.HeapAlloc+before.StackInuse)
				tunnels += n
				// Tear down and wait for the EOF that comes back through
				// the target (and ferry): the next round starts clean.
				for _, c := range conns {
					c.(*net.TCPConn).CloseWrite()
					c.SetReadDeadline(time.Now().Add(time.Minute))
					io.Copy(io.Discard, c)
					c.Close()
				}
			}
			b.ReportMetric(float64(used)/float64(tunnels), "B/tunnel")
		})
	}
}
