package metrics

import (
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/rs/zerolog"
)

// BenchmarkSink is the cost of counting a request beside logging it: the
// access log alone (the baseline) and the access log tee'd with Metrics,
// as cmd/ferry wires them.
func BenchmarkSink(b *testing.B) {
	log := accesslog.Zerolog{Log: zerolog.New(io.Discard).With().Timestamp().Logger()}
	m := New("bench", "bench")
	for _, bc := range []struct {
		name string
		sink accesslog.Sink
	}{
		{"log", log},
		{"log+metrics", accesslog.Tee{m, log}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			client := netip.MustParseAddrPort("192.0.2.1:40000")
			for b.Loop() {
				r := accesslog.Start(bc.sink, "connect", client)
				r.Method, r.Target, r.Status, r.Dialed = "CONNECT", "example.com:443", 200, "192.0.2.9:443"
				r.Rule, r.Decision = "default", "allow"
				r.BytesUp, r.BytesDown, r.Dial = 1000, 100000, 2*time.Millisecond
				r.Finish()
			}
		})
	}
}
