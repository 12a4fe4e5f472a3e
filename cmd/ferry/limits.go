package main

import (
	"github.com/ferry-proxy/ferry/internal/metrics"
	"github.com/ferry-proxy/ferry/limit"
	"github.com/ferry-proxy/ferry/tunnel"
)

// limitStats is the metrics' view of the engine's limiter.
func limitStats(engine *tunnel.Engine) func() []metrics.LimitStat {
	return func() []metrics.LimitStat {
		var out []metrics.LimitStat
		engine.LimitStats(func(rule string, s *limit.RuleStats) {
			st := metrics.LimitStat{Limit: rule, Refused: map[string]int64{}, Stopped: s.Stopped.Load(), StoreDown: s.StoreErr.Load()}
			for k := range s.Refused {
				st.Refused[limit.CheckKind(k).String()] = s.Refused[k].Load()
			}
			out = append(out, st)
		})
		return out
	}
}
