package testnet

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Redis is a redis-server a test started on a loopback port of its own,
// without persistence (the fleet's tests).
type Redis struct {
	t    testing.TB
	Port int
	cmd  *exec.Cmd
	done chan struct{}
}

// redisStart bounds the wait for redis-server's readiness line.
const redisStart = 10 * time.Second

// StartRedis starts redis-server on a free loopback port, stopped when
// the test ends, or skips the test when redis-server is not installed
// (.ci/run installs it).
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed (Debian package redis-server): skipping the fleet's Redis tests")
	}
	r := &Redis{t: t}
	for range 5 { // a port freed for us may be taken before redis binds it
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		r.Port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if r.start() {
			t.Cleanup(r.Kill)
			return r
		}
	}
	t.Fatal("redis-server did not start")
	return nil
}

// start runs redis-server on r.Port and waits for its readiness line.
func (r *Redis) start() bool {
	r.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(r.Port),
		"--save", "", "--appendonly", "no", "--protected-mode", "no")
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	ready := make(chan bool, 1)
	r.done = make(chan struct{})
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
		r.cmd.Wait()
		close(r.done)
	}()
	select {
	case ok := <-ready:
		return ok
	case <-time.After(redisStart):
		r.cmd.Process.Kill()
		return false
	}
}

// Kill ends redis-server at once, as a crash would, and waits for it.
func (r *Redis) Kill() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// Pause stops redis-server (SIGSTOP) until Resume: it keeps its port and
// its connections, and the kernel still accepts new ones, but nothing is
// answered, as with a Redis stalled by a slow disk or a long command.
func (r *Redis) Pause() { r.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume lets a paused redis-server go on (SIGCONT).
func (r *Redis) Resume() { r.cmd.Process.Signal(syscall.SIGCONT) }

// Restart starts it again on the same port.
func (r *Redis) Restart() {
	r.t.Helper()
	if !r.start() {
		r.t.Fatal("redis-server did not start again")
	}
}

// URL is the go-redis URL of its database 0.
func (r *Redis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port) }
