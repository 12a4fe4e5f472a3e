package fleet

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testnet"
)

const bound = 10 * time.Second

// redisServer is a redis-server the test started (testnet.Redis), with
// a fleet client for it.
type redisServer struct{ *testnet.Redis }

// startRedis starts redis-server on a free loopback port, or skips the
// test when redis-server is not installed (.ci/run installs it).
func startRedis(t *testing.T) *redisServer { return startRedisB(t) }

// startRedisB is startRedis for benchmarks too.
func startRedisB(t testing.TB) *redisServer { return &redisServer{testnet.StartRedis(t)} }

// client connects a fleet client to s, with a timeout roomy enough for a
// loaded test machine under the race detector (the default is 5ms).
func (s *redisServer) client(t *testing.T) *Client {
	t.Helper()
	c, err := New(Config{Redis: s.URL(), Timeout: time.Second, Prefix: "test:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	if err := c.Check(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}
