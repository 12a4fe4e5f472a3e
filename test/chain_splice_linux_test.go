package test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestChainSpliceStrace: a ferry whose tunnels go through an HTTP upstream
// (another ferry) still moves their payload by splice(2): it reads the
// upstream's answer to CONNECT without taking a byte past it, so both
// ends of its relay are sockets. strace on the real binary sums what each
// syscall moved, as TestSpliceStrace does for a single ferry.
func TestChainSpliceStrace(t *testing.T) {
	straceBin, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace not installed (.ci/run installs it)")
	}
	parent := startFerry(t, plainParent)
	child := startFerry(t, childConfig(fmt.Sprintf(`
[[upstream]]
name = "parent"
url = "http://%s"
[routing]
default = "parent"
[limits]
shutdown_grace = "2s"
`, parent.Addr)))
	origin := tcpOrigin(t, hashEchoOrigin)

	out := filepath.Join(t.TempDir(), "strace.out")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := exec.CommandContext(ctx, straceBin, "-f", "-s", "0", "-o", out,
		"-e", "trace=splice,read,write,readv,writev,recvfrom,sendto,recvmsg,sendmsg,sendfile",
		"-p", strconv.Itoa(child.Cmd.Process.Pid))
	stderr, err := st.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
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
	for _, k := range tunnelKinds {
		c := k.open(t, child.Addr, origin)
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
		io.Copy(io.Discard, c)
		ev := child.WaitEvent("access", func(e Event) bool { return e.Str("client") == c.LocalAddr().String() })
		if ev.Str("upstream") != "parent" {
			t.Fatalf("%s went %v, not through the upstream", k.name, ev)
		}
	}

	st.Process.Signal(os.Interrupt)
	if err := st.Wait(); err != nil && ctx.Err() != nil {
		t.Fatalf("strace: %v", err)
	}
	trace, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	spliced, copied := syscallBytes(trace)
	payload := int64(len(tunnelKinds)) * 2 * size
	t.Logf("payload %d bytes; splice(2) returned %d; read/write-family calls returned %d", payload, spliced, copied)
	if spliced < 2*payload {
		t.Errorf("splice moved %d bytes, want at least %d", spliced, 2*payload)
	}
	if copied > payload/100 {
		t.Errorf("read/write-family calls moved %d bytes: the payload (%d) is copied through user space", copied, payload)
	}
}
