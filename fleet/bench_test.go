package fleet

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/limit"
)

// BenchmarkDecision is what a [[limit]] decision costs a tunnel's setup:
// Admit (a tunnel slot and a request counted) and Done (the slot given
// back), in process and through Redis on loopback, at 1 and 16
// concurrent callers; p50 and p99 are of one Admit+Done pair. Measured,
// not asserted (issue 18):
//
//	go test ./fleet -run '^$' -bench Decision -benchtime 3s
func BenchmarkDecision(b *testing.B) {
	// Fail closed: a decision Redis did not make fails the benchmark
	// rather than being measured in process.
	set := limit.Compile([]limit.RuleConfig{{Name: "bench", Per: limit.PerClient, Tunnels: 1 << 30, Requests: 1 << 30,
		Window: time.Minute, Period: limit.PeriodDay, OnStoreError: limit.FailClosed}}, acl.Env{}, "UTC",
		func(k, msg string) { b.Fatalf("%s: %s", k, msg) })
	srv := startRedisB(b) // here: a sub-benchmark's cleanup would stop it for the next
	for _, store := range []string{"memory", "redis"} {
		for _, par := range []int{1, 16} {
			b.Run(store+"/callers="+string(rune('0'+par/10))+string(rune('0'+par%10)), func(b *testing.B) {
				opts := limit.Options{Owner: "bench"}
				if store == "redis" {
					c, err := New(Config{Redis: srv.URL(), Timeout: time.Second, Prefix: "bench:"})
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					opts.Shared, opts.Timeout = c.Limits(), time.Second
				}
				l := limit.NewLimiter(opts)
				defer l.Close()
				benchDecisions(b, l, set, par)
			})
		}
	}
}

func benchDecisions(b *testing.B, l *limit.Limiter, set *limit.Set, callers int) {
	ctx := context.Background()
	var mu sync.Mutex
	var all []time.Duration
	b.SetParallelism(callers)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		q := &acl.Query{Host: "example.com", Port: 443, Proto: "connect", Client: netip.MustParseAddr("192.0.2.1")}
		lat := make([]time.Duration, 0, 1<<16)
		for pb.Next() {
			start := time.Now()
			t, err := l.Admit(ctx, set, q)
			if err != nil {
				b.Error(err)
				return
			}
			t.Done()
			if len(lat) < cap(lat) {
				lat = append(lat, time.Since(start))
			}
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	b.StopTimer()
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
}
