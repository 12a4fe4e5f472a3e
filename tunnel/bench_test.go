package tunnel_test

import (
	"io"
	"net"
	"testing"
	"time"
)

// BenchmarkRelay is bulk one-way throughput on loopback: "direct" is a
// plain TCP connection, "ferry" the same traffic through Relay (two
// connections and splice(2) in between). Compare the two MB/s figures of
// one run; the ratio is the relay's cost.
func BenchmarkRelay(b *testing.B) {
	const chunk = 128 << 10
	b.Run("direct", func(b *testing.B) {
		src, dst := tcpPair(b)
		benchBulk(b, src, dst, chunk)
	})
	b.Run("ferry", func(b *testing.B) {
		w := startRelay(b, 5*time.Minute) // the default idle_timeout: deadlines on
		benchBulk(b, w.client, w.server, chunk)
	})
	// The same relay with splice taken away (conns hidden behind another
	// type): what the copy path costs, for comparison with "ferry".
	b.Run("ferry-copy", func(b *testing.B) {
		client, pc := tcpPair(b)
		ps, server := tcpPair(b)
		w := startRelayOn(b, client, server, wrapped{pc}, wrapped{ps}, 5*time.Minute)
		benchBulk(b, w.client, w.server, chunk)
	})
}

func benchBulk(b *testing.B, src, dst net.Conn, chunk int) {
	b.SetBytes(int64(chunk))
	b.ReportAllocs()
	wbuf := make([]byte, chunk)
	total := int64(b.N) * int64(chunk)
	done := make(chan error, 1)
	go func() {
		rbuf := make([]byte, chunk)
		dst.SetReadDeadline(time.Now().Add(time.Minute))
		var n int64
		for n < total {
			m, err := dst.Read(rbuf)
			n += int64(m)
			if err != nil {
				if err == io.EOF && n == total {
					break
				}
				done <- err
				return
			}
		}
		done <- nil
	}()
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
