package socks

import (
	"io"
	"net"
	"testing"
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
