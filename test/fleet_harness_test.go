package test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// redisProc is a redis-server a test started on a loopback port of its
// own, without persistence.
type redisProc struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedis starts redis-server, or skips the test when it is not
// installed (.ci/run installs it).
func startRedis(t testing.TB) *redisProc {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed (Debian package redis-server): skipping the fleet tests")
	}
	r := &redisProc{t: t}
	for range 5 { // the port may be taken between freePort and the bind
		r.port = freePort(t)
		if r.start() {
			t.Cleanup(r.kill)
			return r
		}
	}
	t.Fatal("redis-server did not start")
	return nil
}

func (r *redisProc) start() bool {
	r.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port),
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
	case <-time.After(eventTimeout):
		r.cmd.Process.Kill()
		return false
	}
}

// kill ends redis-server at once, as a crash would.
func (r *redisProc) kill() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// restart starts it again on the same port.
func (r *redisProc) restart() {
	r.t.Helper()
	if !r.start() {
		r.t.Fatal("redis-server did not start again")
	}
	r.t.Cleanup(r.kill)
}

func (r *redisProc) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// member is a ferry behind the balancer: its proxy and admin addresses.
type member struct {
	f            *Ferry
	proxy, admin string
}

// startHAProxy starts haproxy in TCP mode in front of members, sending
// PROXY v2 to each and checking its /readyz on the admin port, and
// returns the address clients use; it skips the test without haproxy.
func startHAProxy(t testing.TB, members []member) string {
	t.Helper()
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Skip("haproxy not installed (Debian package haproxy): skipping the fleet tests")
	}
	port := freePort(t)
	var servers strings.Builder
	for i, m := range members {
		_, ap, _ := net.SplitHostPort(m.admin)
		fmt.Fprintf(&servers, "  server ferry%d %s send-proxy-v2 check port %s inter 200ms fall 1 rise 1\n", i, m.proxy, ap)
	}
	cfg := fmt.Sprintf(`global
  maxconn 2000
defaults
  mode tcp
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  retries 3
  option redispatch
frontend proxy
  bind 127.0.0.1:%d
  default_backend ferries
backend ferries
  balance roundrobin
  option httpchk GET /readyz
%s`, port, servers.String())
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("haproxy", "-db", "-f", path)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("haproxy output:\n%s", stderr.String())
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// haproxy says nothing when it is ready: its port answering is the
	// readiness, asked a bounded number of times.
	for range 200 {
		select {
		case <-exited:
			t.Fatalf("haproxy exited:\n%s", stderr.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return addr
		}
		<-time.After(25 * time.Millisecond)
	}
	t.Fatalf("haproxy did not listen on %s:\n%s", addr, stderr.String())
	return ""
}
