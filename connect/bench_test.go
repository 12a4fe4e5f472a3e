package connect_test

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	b.Cleanup(func() {
		ln.Close()
		for c := range accepted {
			c.Close()
		}
	})
	target := ln.Addr().String()
	b.Run("direct", func(b *testing.B) {
		c, err := net.Dial("tcp", target)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		benchBulk(b, c, <-accepted)
	})
	b.Run("connect", func(b *testing.B) {
		w := newWorld(b, options{})
		c := w.raw(b)
		c.send(b, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
		c.connected(b)
		benchBulk(b, c, <-accepted)
	})
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
