package test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testnet"
)

// startRedis starts redis-server (testnet.Redis), or skips the test when
// it is not installed (.ci/run installs it).
func startRedis(t testing.TB) *testnet.Redis { return testnet.StartRedis(t) }

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
