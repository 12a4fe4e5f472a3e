package test

// A minimal harness of the acl tests' own: build the real binary once,
// start it with a config, read its JSON log lines. The shared harness
// (TestMain in this folder) was being written on another branch; these
// names are prefixed acl so the two can live side by side.

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	aclBinOnce sync.Once
	aclBinPath string
	aclBinErr  error
)

// aclBinary builds ./cmd/ferry once per test run, next to the test binary
// (go test removes that folder afterwards).
func aclBinary(t *testing.T) string {
	t.Helper()
	aclBinOnce.Do(func() {
		exe, err := os.Executable()
		if err != nil {
			aclBinErr = err
			return
		}
		aclBinPath = filepath.Join(filepath.Dir(exe), "ferry-acl-e2e")
		cmd := exec.Command("go", "build", "-o", aclBinPath, "./cmd/ferry")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			aclBinErr = err
			aclBinPath = string(out)
		}
	})
	if aclBinErr != nil {
		t.Fatalf("build ferry: %v\n%s", aclBinErr, aclBinPath)
	}
	return aclBinPath
}

// aclProc is a running ferry.
type aclProc struct {
	cmd   *exec.Cmd
	addr  string              // of the first listener
	lines chan map[string]any // log events, in order
	done  chan struct{}       // closed when the process has exited
}

// aclWriteConfig writes a config file (and others, by name) into a fresh
// folder and returns the config's path.
func aclWriteConfig(t *testing.T, config string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "ferry.toml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// aclStart runs ferry with args and waits for its listening event.
func aclStart(t *testing.T, args ...string) *aclProc {
	t.Helper()
	p := aclRun(t, args...)
	ev := p.waitFor(t, 10*time.Second, func(e map[string]any) bool { return e["message"] == "listening" })
	p.addr, _ = ev["addr"].(string)
	return p
}

// aclRun starts ferry without waiting for anything.
func aclRun(t *testing.T, args ...string) *aclProc {
	t.Helper()
	cmd := exec.Command(aclBinary(t), args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &aclProc{cmd: cmd, lines: make(chan map[string]any, 1024), done: make(chan struct{})}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			ev := map[string]any{}
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				ev = map[string]any{"message": "(not json)", "text": sc.Text()}
			}
			p.lines <- ev
		}
	}()
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitFor reads log events until one satisfies match, failing the test
// after timeout or when the log ends.
func (p *aclProc) waitFor(t *testing.T, timeout time.Duration, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var seen []string
	for {
		select {
		case ev, ok := <-p.lines:
			if !ok {
				t.Fatalf("ferry's log ended before the awaited event; saw:\n%s", strings.Join(seen, "\n"))
			}
			b, _ := json.Marshal(ev)
			seen = append(seen, string(b))
			if match(ev) {
				return ev
			}
		case <-deadline.C:
			t.Fatalf("no awaited event within %v; saw:\n%s", timeout, strings.Join(seen, "\n"))
		}
	}
}

// access waits for the next access event whose target or url contains s.
func (p *aclProc) access(t *testing.T, s string) map[string]any {
	t.Helper()
	return p.waitFor(t, 10*time.Second, func(e map[string]any) bool {
		if e["message"] != "access" {
			return false
		}
		target, _ := e["target"].(string)
		url, _ := e["url"].(string)
		return strings.Contains(target, s) || strings.Contains(url, s)
	})
}

// aclCurl runs curl with a bounded time and no proxy from the
// environment, returning stdout, stderr and the exit code.
func aclCurl(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed (.ci/run installs it)")
	}
	cmd := exec.Command("curl", append([]string{"-sS", "--max-time", "10"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}
