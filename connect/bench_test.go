package connect_test

import (
	"bufio"
	"io"
	"net"
	"testing"

	"github.com/ferry-proxy/ferry/internal/testnet"
)

// BenchmarkHandshake is one short connection per op: "direct" dials the
// echo target, sends one byte, reads it back and closes; "connect" does the
// same through ferry (CONNECT head, 200, then the byte). The ratio of the
// two ns/op figures of one run is what the handshake costs.
func BenchmarkHandshake(b *testing.B) {
	target := echoTarget(b)
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, err := net.Dial("tcp", target)
			if err != nil {
				b.Fatal(err)
			}
			echoByte(b, c, c)
		}
	})
	b.Run("connect", func(b *testing.B) {
		w := newWorld(b, options{})
		head := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n"
		b.ReportAllocs()
		for b.Loop() {
			c, err := net.Dial("tcp", w.addr)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.WriteString(c, head); err != nil {
				b.Fatal(err)
			}
			r := &raw{TCPConn: c.(*net.TCPConn), br: bufio.NewReader(c)}
			r.connected(b)
			echoByte(b, c, r.br)
		}
	})
}

func echoByte(b *testing.B, c net.Conn, r io.Reader) {
	defer c.Close()
	if _, err := c.Write([]byte{'x'}); err != nil {
		b.Fatal(err)
	}
	var one [1]byte
	if _, err := io.ReadFull(r, one[:]); err != nil || one[0] != 'x' {
		b.Fatalf("echo: %q, %v", one[:], err)
	}
}

// BenchmarkBulk is one-way bulk throughput of one tunnel: "direct" is a
// plain loopback connection to the target, "connect" one CONNECT tunnel
// through ferry to the same target. Compare the MB/s of one run.
func BenchmarkBulk(b *testing.B) {
	const chunk = 128 << 10
	target, accepted := testnet.Accepted(b)
	b.Run("direct", func(b *testing.B) {
		c, err := net.Dial("tcp", target)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		dst := <-accepted
		defer dst.Close()
		testnet.Bulk(b, c, dst, chunk)
	})
	b.Run("connect", func(b *testing.B) {
		w := newWorld(b, options{})
		c := w.raw(b)
		c.send(b, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
		c.connected(b)
		dst := <-accepted
		defer dst.Close()
		testnet.Bulk(b, c, dst, chunk)
	})
}
