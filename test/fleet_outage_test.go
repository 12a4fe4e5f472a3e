package test

import (
	"fmt"
	"io"
	"net"
	"testing"
)

// fleetOutageConfig is one member of a fleet whose Redis the test starts,
// stops, stalls and brings back: a tunnel limit that fails open and a
// SOCKS limit that fails closed.
const fleetOutageConfig = `
[[listener]]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"

[acl]
default = "allow"

[fleet]
redis = %q
timeout = "250ms"             # a loaded test machine; 5ms by default
name = "solo"

[[limit]]
name = "tunnels-open"
per = "client"
tunnels = 100
proto = "connect"

[[limit]]
name = "socks-closed"
per = "client"
requests = 100000
on_store_error = "closed"
proto = "socks"
`

const (
	redisDown = "fleet: redis down; limits as their on_store_error says, the login throttle per ferry, until it is back"
	redisUp   = "fleet: redis up"
)

// A member serves through every state of its Redis (README "Running a
// fleet"): not running when ferry starts, started, stalled (SIGSTOP: the
// kernel accepts, nothing answers) and back. Requests are answered
// throughout, each limit doing as its on_store_error says while Redis
// does not answer, and the log and the metrics say what Redis is doing.
func TestFleetRedisOutages(t *testing.T) {
	origin := tcpOrigin(t, func(c *net.TCPConn) { io.Copy(c, c) })
	redis := startRedis(t)
	redis.Kill() // its port, where nothing listens now
	f, admin := startOps(t, fmt.Sprintf(fleetOutageConfig, redis.URL()))
	f.WaitEvent(redisDown, nil)
	serves := func(when string, socksReply byte) {
		t.Helper()
		c := connectTunnel(t, f.Addr, origin)
		if err := echo(c); err != nil {
			t.Fatalf("%s: tunnel under a fail-open limit: %v", when, err)
		}
		c.Close()
		rep, s := socks5Request(t, f.Addr, 1, socks5Addr(t, origin))
		s.Close()
		if rep != socksReply {
			t.Fatalf("%s: SOCKS5 reply %#x under a fail-closed limit, want %#x", when, rep, socksReply)
		}
	}
	redisMetrics := func(when string, up float64) metrics {
		t.Helper()
		ms := scrape(t, admin)
		if v, ok := ms.get("ferry_fleet_redis_up"); !ok || v != up {
			t.Errorf("%s: ferry_fleet_redis_up %v (present %v), want %v", when, v, ok, up)
		}
		return ms
	}

	serves("redis not running at start", 0x02)
	ms := redisMetrics("redis not running at start", 0)
	if n := ms.val("ferry_limit_store_down_refused_total", "limit", "socks-closed"); n != 1 {
		t.Errorf("ferry_limit_store_down_refused_total{limit=socks-closed} %v, want 1", n)
	}

	redis.Restart()
	f.WaitEvent(redisUp, nil)
	serves("redis started", 0)
	redisMetrics("redis started", 1)

	redis.Pause()
	// Each call waits fleet.timeout and gets nothing: SOCKS is refused, a
	// tunnel goes on; three slow answers in a row mark Redis down.
	serves("redis stalled", 0x02)
	serves("redis stalled", 0x02)
	f.WaitEvents(redisDown, nil, 2)
	ms = redisMetrics("redis stalled", 0)
	if n := ms.val("ferry_fleet_redis_slow_total"); n < 3 {
		t.Errorf("ferry_fleet_redis_slow_total %v, want at least the 3 that marked Redis down", n)
	}
	serves("redis known down", 0x02)

	redis.Resume()
	f.WaitEvents(redisUp, nil, 2)
	serves("redis resumed", 0)
	ms = redisMetrics("redis resumed", 1)
	if n := ms.val("ferry_fleet_redis_state_changes_total"); n != 4 {
		t.Errorf("ferry_fleet_redis_state_changes_total %v, want 4 (down, up, down, up)", n)
	}
}
