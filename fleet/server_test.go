package fleet

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const bound = 10 * time.Second

// redisServer is a redis-server the test started on a loopback port of
// its own, without persistence.
type redisServer struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedis starts redis-server on a free loopback port, or skips the
// test when redis-server is not installed (.ci/run installs it).
func startRedis(t *testing.T) *redisServer { return startRedisB(t) }

// startRedisB is startRedis for benchmarks too.
func startRedisB(t testing.TB) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed (Debian package redis-server): skipping the fleet's Redis tests")
	}
	s := &redisServer{t: t}
	for range 5 { // a port freed for us may be taken before redis binds it
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if s.start() {
			t.Cleanup(s.stop)
			return s
		}
	}
	t.Fatal("redis-server did not start")
	return nil
}

// start runs redis-server on s.port and waits for its readiness line.
func (s *redisServer) start() bool {
	s.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--save", "", "--appendonly", "no", "--protected-mode", "no")
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	ready := make(chan bool, 1)
	s.done = make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		said := false
		for sc.Scan() {
			if !said && strings.Contains(sc.Text(), "Ready to accept connections") {
				said = true
				ready <- true
			}
		}
		if !said {
			ready <- false
		}
		s.cmd.Wait()
		close(s.done)
	}()
	select {
	case ok := <-ready:
		return ok
	case <-time.After(bound):
		s.cmd.Process.Kill()
		return false
	}
}

// stop kills redis-server and waits for it.
func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// restart starts it again on the same port.
func (s *redisServer) restart() {
	s.t.Helper()
	if !s.start() {
		s.t.Fatal("redis-server did not start again")
	}
}

func (s *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// client connects a fleet client to s, with a timeout roomy enough for a
// loaded test machine under the race detector (the default is 5ms).
func (s *redisServer) client(t *testing.T) *Client {
	t.Helper()
	c, err := New(Config{Redis: s.url(), Timeout: time.Second, Prefix: "test:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}
