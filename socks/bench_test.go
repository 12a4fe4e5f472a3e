package socks

import (
	"io"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"
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
	target, accepted := sinkTarget(b)
	b.Run("direct", func(b *testing.B) {
		c, err := net.Dial("tcp", target.String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		benchBulk(b, c, <-accepted)
	})
	b.Run("socks5", func(b *testing.B) {
		w := newWorld(b)
		c := w.dial(b)
		if rep, _ := connect5(b, c, cmdConnect, atypIPv4, ip4("127.0.0.1"), target.Port()); rep != repSucceeded {
			b.Fatalf("reply %#x", rep)
		}
		benchBulk(b, c, <-accepted)
	})
}

// sinkTarget is a listener whose accepted conns are handed to the
// benchmark, which reads them itself.
func sinkTarget(b *testing.B) (netip.AddrPort, <-chan net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ch := make(chan net.Conn, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(ch)
				return
			}
			ch <- c
		}
	}()
	b.Cleanup(func() {
		ln.Close()
		for c := range ch {
			c.Close()
		}
	})
	return netip.MustParseAddrPort(ln.Addr().String()), ch
}

// benchBulk writes b.N chunks of 128 KiB into src and reads them all from
// dst, then closes dst.
func benchBulk(b *testing.B, src, dst net.Conn) {
	const chunk = 128 << 10
	defer dst.Close()
	b.SetBytes(chunk)
	b.ReportAllocs()
	total := int64(b.N) * chunk
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, chunk)
		dst.SetReadDeadline(time.Now().Add(time.Minute))
		for n := int64(0); n < total; {
			m, err := dst.Read(buf)
			n += int64(m)
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	wbuf := make([]byte, chunk)
	src.SetWriteDeadline(time.Now().Add(time.Minute))
	b.ResetTimer()
	for range b.N {
		if _, err := src.Write(wbuf); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
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
