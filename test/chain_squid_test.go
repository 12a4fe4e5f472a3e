package test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startSquid starts squid as a parent proxy on loopback that lets
// everything through and gives up on a silent origin after a second
// (read_timeout), or skips the test when squid is not installed. It
// returns squid's address once squid says it accepts connections.
func startSquid(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("squid")
	if err != nil {
		t.Skip("squid not installed (Debian package squid): skipping the squid parent test")
	}
	port := strconv.Itoa(freePort(t))
	dir := t.TempDir()
	cfg := `http_port 127.0.0.1:` + port + `
pid_filename none
access_log none
cache_log /dev/null
cache deny all
http_access allow all
read_timeout 1 second
shutdown_lifetime 0 seconds
coredump_dir ` + dir + "\n"
	path := filepath.Join(dir, "squid.conf")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// -N: no daemon, one process; -d1: its log on stderr, where the
	// line saying it accepts connections is the readiness; -n: a service
	// name of its own, so it shares nothing with another squid.
	cmd := exec.Command(bin, "-N", "-d1", "-n", "ferrytest"+port, "-f", path)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	var out strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		said := false
		for sc.Scan() {
			if !said && strings.Contains(sc.Text(), "Accepting HTTP Socket connections") {
				said = true
				ready <- true
			}
			if !said {
				out.WriteString(sc.Text() + "\n")
			}
		}
		if !said {
			ready <- false
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("squid exited before accepting connections")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("squid did not say it accepts connections within 30s")
	}
	return "127.0.0.1:" + port
}

// A real squid as the parent: its failures carry their cause only in
// X-Squid-Error, which ferry reads into its own answer to CONNECT, into
// a Proxy-Status member of its own on the 5xx it passes on to a plain
// request, and into the access line.
func TestChainSquidParentCause(t *testing.T) {
	squid := startSquid(t)
	child := startFerry(t, childConfig(fmt.Sprintf("[[upstream]]\nname = \"squid\"\nurl = \"http://%s\"\n\n[routing]\ndefault = \"squid\"\n", squid)))
	refused := closedPort(t)
	silent := tcpOrigin(t, func(c *net.TCPConn) { io.Copy(io.Discard, c) })
	// A request served through squid first: a failure of squid's own
	// for one target (a 5xx with no Proxy-Status) then does not take it
	// out (README "Failures"), and each row reaches squid.
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(web.Close)
	c := dial(t, child.Addr)
	io.WriteString(c, getReq(strings.TrimPrefix(web.URL, "http://")))
	if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("through squid to a working origin: %v %v", resp, err)
	}
	tests := []struct {
		name, request string
		status        int
		ps            string // the error type of ferry's Proxy-Status member and access line
		squid         string // squid's X-Squid-Error, in the member's details
	}{
		{"CONNECT refused", connectReq(refused), 502, "connection_refused", "ERR_CONNECT_FAIL 111"},
		{"GET refused", getReq(refused), 503, "connection_refused", "ERR_CONNECT_FAIL 111"},
		{"GET from a silent origin", getReq(silent), 504, "http_response_timeout", "ERR_READ_TIMEOUT 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, child.Addr)
			if _, err := io.WriteString(c, tt.request); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: strings.Fields(tt.request)[0]})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			ps := strings.Join(resp.Header.Values("Proxy-Status"), ", ")
			if resp.StatusCode != tt.status || !strings.Contains(ps, "ferry; error="+tt.ps+";") ||
				!strings.Contains(ps, "X-Squid-Error: "+tt.squid) || !strings.Contains(ps, `next-hop="squid"`) {
				t.Errorf("%d, Proxy-Status %q; want %d with ferry's %s naming squid and its %s", resp.StatusCode, ps, tt.status, tt.ps, tt.squid)
			}
			client := c.LocalAddr().String()
			ev := child.WaitEvent("access", func(e Event) bool { return e.Str("client") == client })
			if ev.Int("status") != int64(tt.status) || ev.Str("proxy_status") != tt.ps || !strings.Contains(ev.Str("err"), tt.squid) {
				t.Errorf("access event %v, want status %d proxy_status %s and err naming %s", ev, tt.status, tt.ps, tt.squid)
			}
		})
	}
}
