package test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// netns is a network namespace the test made for itself: its own
// loopback and a veth pair with addresses of its own, so that ferry's
// "self" is tried against a host whose every address the test chose,
// and no packet goes near this machine's real interfaces.
type netns struct {
	name string
	t    *testing.T
}

// newNetns makes a namespace with lo up and a veth pair v0/v1, v0 holding
// addr; it skips the test where namespaces cannot be made (not root, no
// ip(8)).
func newNetns(t *testing.T, addr string) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("making a network namespace needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip(8) to make a network namespace with")
	}
	n := &netns{name: fmt.Sprintf("ferrytest%d-%d", os.Getpid(), time.Now().UnixNano()%1e6), t: t}
	if out, err := exec.Command("ip", "netns", "add", n.name).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.name).Run() })
	n.ip("link", "set", "lo", "up")
	n.ip("link", "add", "v0", "type", "veth", "peer", "name", "v1")
	n.ip("addr", "add", addr+"/24", "dev", "v0")
	n.ip("link", "set", "v0", "up")
	n.ip("link", "set", "v1", "up")
	return n
}

// ip runs ip(8) inside the namespace.
func (n *netns) ip(args ...string) {
	n.t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", n.name}, args...)...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip -n %s %s: %v: %s", n.name, strings.Join(args, " "), err, out)
	}
}

// do runs f on a thread moved into the namespace: sockets f opens are the
// namespace's for good. The thread is never used again (it stays locked
// and ends with the goroutine).
func (n *netns) do(f func()) {
	n.t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread dies with the goroutine
		fd, err := unix.Open("/var/run/netns/"+n.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			err = unix.Setns(fd, unix.CLONE_NEWNET)
			unix.Close(fd)
		}
		if err == nil {
			f()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		n.t.Fatalf("setns %s: %v", n.name, err)
	}
}

// get sends a plain-HTTP proxy request for url to the proxy at addr, from
// inside the namespace, and returns the status and Proxy-Status.
func (n *netns) get(proxy, url string) (int, string) {
	n.t.Helper()
	var c net.Conn
	var err error
	n.do(func() { c, err = net.DialTimeout("tcp", proxy, 5*time.Second) })
	if err != nil {
		n.t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", url)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		n.t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Proxy-Status")
}

// TestSelfDeniedInANamespace: a service bound to 0.0.0.0 on ferry's host
// is not reachable through ferry at the host's non-private addresses with
// the default rules (issue 20 item 2), nor at an address the host takes
// while ferry runs; with rules that allow everything it is, so the rule is
// what refuses. Everything runs in a namespace the test made.
func TestSelfDeniedInANamespace(t *testing.T) {
	const hostAddr, laterAddr = "198.51.100.1", "203.0.113.7"
	n := newNetns(t, hostAddr)
	var origin net.Listener
	var err error
	n.do(func() { origin, err = net.Listen("tcp", "0.0.0.0:0") })
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "host service\n") }),
		ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(origin)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(origin.Addr().String())
	prefix := []string{"ip", "netns", "exec", n.name}

	open := startFerryUnder(t, prefix, "[[listener]]\naddress = \"127.0.0.1:0\"\n[acl]\ndefault = \"allow\"\n")
	if status, _ := n.get(open.Addr, "http://"+hostAddr+":"+port+"/"); status != 200 {
		t.Fatalf("with rules that allow all, the host's service answered %d, want 200 (the test's own setup)", status)
	}

	f := startFerryUnder(t, prefix, "[[listener]]\naddress = \"127.0.0.1:0\"\n")
	if ev := f.Events("starting"); len(ev) != 1 || !strings.Contains(ev[0].Str("self"), hostAddr) {
		t.Errorf("starting event %v: want self with %s", ev, hostAddr)
	}
	status, ps := n.get(f.Addr, "http://"+hostAddr+":"+port+"/")
	if status != 403 || !strings.Contains(ps, "destination_ip_prohibited") {
		t.Fatalf("the host's own address: %d %q, want 403 destination_ip_prohibited", status, ps)
	}
	if ev := f.WaitEvent("access", nil); ev.Str("rule") != "deny-internal-destinations" {
		t.Errorf("access event %v: want rule deny-internal-destinations", ev)
	}

	// An address the host takes while ferry runs is its own at once.
	n.ip("addr", "add", laterAddr+"/32", "dev", "v0")
	f.WaitEvent("self", func(e Event) bool { return strings.Contains(e.Str("addrs"), laterAddr) })
	if status, ps := n.get(f.Addr, "http://"+laterAddr+":"+port+"/"); status != 403 || !strings.Contains(ps, "destination_ip_prohibited") {
		t.Fatalf("an address taken since the start: %d %q, want 403", status, ps)
	}
}
