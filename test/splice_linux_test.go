package test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSpliceStrace proves on the real binary that tunnel payload moves by
// splice(2), not through a read/write loop in ferry: it attaches strace to
// the running ferry, moves payload both ways through a CONNECT and a
// SOCKS5 tunnel (both conns peeked by the front mux first), and sums the
// bytes each syscall returned.
func TestSpliceStrace(t *testing.T) {
	f := startFerry(t, minimalConfig+`
[limits]
shutdown_grace = "2s"
`)
	checkSplice(t, f, tunnelKinds, tcpOrigin(t, hashEchoOrigin), nil)
}

// TestSpliceStraceReverse is TestSpliceStrace for reverse TCP listeners:
// one plain, one behind a trusted balancer, whose PROXY header ferry
// peeks and takes off before the relay.
func TestSpliceStraceReverse(t *testing.T) {
	origin := tcpOrigin(t, hashEchoOrigin)
	f := startReverse(t, revHead+fmt.Sprintf(`
[limits]
shutdown_grace = "2s"
[[reverse]]
name = "tcp"
address = "127.0.0.1:0"
mode = "tcp"
  [[reverse.route]]
  backends = [{ address = %[1]q }]
[[reverse]]
name = "proxied"
address = "127.0.0.1:0"
mode = "tcp"
proxy_protocol_from = ["127.0.0.1/32"]
  [[reverse.route]]
  backends = [{ address = %[1]q }]
`, origin))
	kinds := []tunnelKind{
		{"tcp", func(t testing.TB, _, _ string) *net.TCPConn { return dialFrom(t, "", f.AddrOf("tcp")) }},
		{"tcp", func(t testing.TB, _, _ string) *net.TCPConn {
			c := dialFrom(t, "", f.AddrOf("proxied"))
			// The balancer passes the client on as itself, so that the
			// access event still names c.
			src, dst := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
			fmt.Fprintf(c, "PROXY TCP4 %s %s %d %d\r\n", src.IP, dst.IP, src.Port, dst.Port)
			return c
		}},
	}
	checkSplice(t, f, kinds, origin, nil)
}

// TestSpliceStraceFleet is TestSpliceStrace for a fleet member: a forward
// listener behind a trusted balancer (a PROXY header before the CONNECT
// or the SOCKS5 greeting) and tunnels under a byte quota, whose meter
// counts what the relay splices (issue 18).
func TestSpliceStraceFleet(t *testing.T) {
	f := startFerry(t, `
[[listener]]
name = "main"
address = "127.0.0.1:0"
proxy_protocol_from = ["127.0.0.1/32"]

[acl]
default = "allow"

[limits]
shutdown_grace = "2s"

[[limit]]
name = "daily"
per = "client"
bytes = "1GiB"
`)
	// The balancer names the client as itself, so that the access event
	// still names c.
	proxied := func(open func(t testing.TB, c *net.TCPConn, target string)) func(t testing.TB, proxy, target string) *net.TCPConn {
		return func(t testing.TB, proxy, target string) *net.TCPConn {
			c := dialFrom(t, "", proxy)
			src, dst := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
			fmt.Fprintf(c, "PROXY TCP4 %s %s %d %d\r\n", src.IP, dst.IP, src.Port, dst.Port)
			open(t, c, target)
			return c
		}
	}
	kinds := []tunnelKind{
		{"connect", proxied(func(t testing.TB, c *net.TCPConn, target string) {
			fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
			if code, head, err := readHead(c); err != nil || code != 200 {
				t.Fatalf("CONNECT %s behind the balancer: %q %v", target, head, err)
			}
		})},
		{"socks5", proxied(func(t testing.TB, c *net.TCPConn, target string) {
			c.Write([]byte{5, 1, 0})
			var sel [2]byte
			if _, err := io.ReadFull(c, sel[:]); err != nil || sel != [2]byte{5, 0} {
				t.Fatalf("SOCKS5 method selection behind the balancer: %v %v", sel, err)
			}
			c.Write(append([]byte{5, 1, 0}, socks5Addr(t, target)...))
			var h [4]byte
			if _, err := io.ReadFull(c, h[:]); err != nil || h[1] != 0 || h[3] != 1 {
				t.Fatalf("SOCKS5 reply behind the balancer: % x %v", h, err)
			}
			readBound(t, c, 4)
		})},
	}
	checkSplice(t, f, kinds, tcpOrigin(t, hashEchoOrigin), func(kind string, ev Event) {
		if ev.Int("bytes_up") < 16<<20 || ev.Str("err") != "" {
			t.Errorf("%s: access line %v: want 16 MiB up, no error", kind, ev)
		}
	})
}

// checkSplice attaches strace to f, moves 16 MiB each way through a tunnel
// of each of kinds to origin (a hashEchoOrigin), hands each tunnel's
// access event to onAccess (if not nil), and checks that splice(2) moved
// the payload and the read/write family next to none of it.
func checkSplice(t *testing.T, f *Ferry, kinds []tunnelKind, origin string, onAccess func(kind string, ev Event)) {
	t.Helper()
	straceBin, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace not installed (.ci/run installs it): splice on the real binary not checked")
	}
	out := filepath.Join(t.TempDir(), "strace.out")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := exec.CommandContext(ctx, straceBin, "-f", "-s", "0", "-o", out,
		"-e", "trace=splice,read,write,readv,writev,recvfrom,sendto,recvmsg,sendmsg,sendfile",
		"-p", strconv.Itoa(f.Cmd.Process.Pid))
	stderr, err := st.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	// strace reports each attached thread on stderr; wait for the first,
	// or for its failure (ptrace not permitted) and skip.
	attached := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.Contains(sc.Text(), "attached") {
				attached <- ""
				io.Copy(io.Discard, stderr)
				return
			}
		}
		attached <- strings.Join(lines, "\n")
	}()
	if msg := recv(t, attached); msg != "" {
		st.Wait()
		t.Skipf("strace cannot attach to ferry here: %s", msg)
	}

	const size = 16 << 20
	for _, k := range kinds {
		c := k.open(t, f.Addr, origin)
		c.SetDeadline(time.Now().Add(bulkTimeout))
		sent := make(chan []byte, 1)
		go func() {
			sum, _ := stream(c, size)
			c.CloseWrite()
			sent <- sum
		}()
		h := sha256.New()
		if n, err := io.CopyN(h, c, size); err != nil {
			t.Fatalf("%s: echo %d bytes: %v", k.name, n, err)
		}
		if sum := recv(t, sent); !bytes.Equal(h.Sum(nil), sum) {
			t.Fatalf("%s: echo differs from what was sent", k.name)
		}
		io.Copy(io.Discard, c) // the origin's checksum, then EOF
		ev := f.WaitEvent("access", func(e Event) bool { return e.Str("client") == c.LocalAddr().String() })
		if onAccess != nil {
			onAccess(k.name, ev)
		}
	}

	// SIGINT makes strace detach and flush.
	st.Process.Signal(os.Interrupt)
	if err := st.Wait(); err != nil && ctx.Err() != nil {
		t.Fatalf("strace: %v", err)
	}
	trace, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	spliced, copied := syscallBytes(trace)
	payload := int64(len(kinds)) * 2 * size // up and echoed down, per tunnel
	t.Logf("payload %d bytes; splice(2) returned %d; read/write-family calls returned %d", payload, spliced, copied)
	// Each byte is spliced twice (socket → pipe → socket).
	if spliced < 2*payload {
		t.Errorf("splice moved %d bytes, want at least %d", spliced, 2*payload)
	}
	if copied > payload/100 {
		t.Errorf("read/write-family calls moved %d bytes: the payload (%d) is copied through user space", copied, payload)
	}
}

// straceResult matches a completed call, "PID name(args) = N" or
// "PID <... name resumed>...) = N".
var straceResult = regexp.MustCompile(`^\d+\s+(?:<\.\.\. (\w+) resumed>|(\w+)\().*\)\s+=\s+(-?\d+)`)

// syscallBytes sums the byte counts that splice and the read/write family
// returned in an strace output.
func syscallBytes(trace []byte) (spliced, copied int64) {
	for _, line := range strings.Split(string(trace), "\n") {
		m := straceResult.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n, _ := strconv.ParseInt(m[3], 10, 64)
		if n <= 0 {
			continue
		}
		if m[1]+m[2] == "splice" {
			spliced += n
		} else {
			copied += n
		}
	}
	return spliced, copied
}
