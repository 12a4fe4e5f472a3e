package tunnel_test

import (
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testnet"
)

// BenchmarkRelay is bulk one-way throughput on loopback: "direct" is a
// plain TCP connection, "ferry" the same traffic through Relay (two
// connections and splice(2) in between). Compare the two MB/s figures of
// one run; the ratio is the relay's cost.
func BenchmarkRelay(b *testing.B) {
	const chunk = 128 << 10
	b.Run("direct", func(b *testing.B) {
		src, dst := tcpPair(b)
		testnet.Bulk(b, src, dst, chunk)
	})
	b.Run("ferry", func(b *testing.B) {
		w := startRelay(b, 5*time.Minute) // the default idle_timeout: deadlines on
		testnet.Bulk(b, w.client, w.server, chunk)
	})
	// The same relay with splice taken away (conns hidden behind another
	// type): what the copy path costs, for comparison with "ferry".
	b.Run("ferry-copy", func(b *testing.B) {
		client, pc := tcpPair(b)
		ps, server := tcpPair(b)
		w := startRelayOn(b, client, server, wrapped{pc}, wrapped{ps}, 5*time.Minute)
		testnet.Bulk(b, w.client, w.server, chunk)
	})
}
