package main

import (
	"github.com/ferry-proxy/ferry/front"
	"github.com/rs/zerolog"
)

// fdReserve is the file descriptors kept out of the connection budget:
// the listeners, the admin port, log and cache files, DNS sockets. A
// ferry that runs out of descriptors cannot even accept on its admin port
// to say so (issue 20 item 6).
const fdReserve = 64

// fdBudget fits the connection limits to the process's open-file limit:
// every proxied connection may cost two descriptors (the client's and the
// one dialed for it), and pooled origin connections one each. It returns
// max_conns (0: unlimited, as configured) and the pool's size, lowered
// when they would not fit beside the reserve, with a log line saying so:
// a warning when it was the operator's own max_conns, a line at info
// when it was a default fitted to the machine (the pool's always; the
// default max_conns needs about 20,100 descriptors), so that a fresh
// ferry starts without a warning nobody needs to act on. limit is the
// open-file limit, 0 when unknown (nothing is lowered).
func fdBudget(limit uint64, maxConns, maxIdle int, log zerolog.Logger) (int, int) {
	if limit == 0 || limit > 1<<30 {
		return maxConns, maxIdle
	}
	free := int(limit) - fdReserve
	if free < 16 {
		free = 16
	}
	pool := min(maxIdle, free/8)
	fit := max((free-pool)/2, 1)
	if pool < maxIdle {
		log.Info().Uint64("nofile", limit).Int("max_idle_conns", pool).Msg("outbound connection pool lowered to fit the open-file limit")
	}
	if maxConns == 0 || maxConns > fit {
		level := zerolog.WarnLevel
		if maxConns == front.DefaultMaxConns {
			level = zerolog.InfoLevel
		}
		log.WithLevel(level).Uint64("nofile", limit).Int("configured", maxConns).Int("max_conns", fit).
			Msg("max_conns lowered to fit the open-file limit: two descriptors a connection, and a reserve")
		maxConns = fit
	}
	return maxConns, pool
}
