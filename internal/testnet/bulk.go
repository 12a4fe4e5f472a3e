package testnet

import (
	"io"
	"net"
	"testing"
	"time"
)

// Accepted listens on 127.0.0.1:0 and hands each accepted connection to the
// caller, who reads it itself (a bulk benchmark's receiving end). At cleanup
// the listener and every connection not taken are closed.
func Accepted(tb testing.TB) (addr string, conns <-chan net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ch := make(chan net.Conn, 1)
	go func() {
		defer close(ch)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ch <- c
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		for c := range ch {
			c.Close()
		}
	})
	return ln.Addr().String(), ch
}

// Bulk is the one-way throughput loop of the bulk benchmarks: it writes b.N
// chunks of chunk bytes into src and reads them all from dst, timing only
// that (b.SetBytes(chunk): MB/s is what arrived). The two ends may be one
// loopback connection (the baseline) or a tunnel's client and target ends;
// Bulk closes neither.
func Bulk(b *testing.B, src, dst net.Conn, chunk int) {
	b.SetBytes(int64(chunk))
	b.ReportAllocs()
	total := int64(b.N) * int64(chunk)
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, chunk)
		dst.SetReadDeadline(time.Now().Add(time.Minute))
		for n := int64(0); n < total; {
			m, err := dst.Read(buf)
			n += int64(m)
			if err == io.EOF && n == total {
				break
			}
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
