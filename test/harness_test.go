package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ferryBin is the binary TestMain built; every test runs this one.
var ferryBin string

// Deadlines of the harness, generous for a loaded 2-core machine running
// the tests under -race.
const (
	eventTimeout = 15 * time.Second // WaitEvent, including the first listening event
	stopTimeout  = 20 * time.Second // SIGTERM to exit; then SIGKILL and fail
	runTimeout   = 20 * time.Second // runFerry: a run expected to end by itself
)

func TestMain(m *testing.M) {
	if cmd := os.Getenv(envExecWithoutMMsg); cmd != "" {
		execWithoutMMsg(cmd) // a helper for a client under test: never returns
	}
	if fams := os.Getenv(envExecFamilies); fams != "" {
		execWithFamilies(fams, os.Args[1:]) // a sandbox for ferry: never returns
	}
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "ferry-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ferryBin = filepath.Join(dir, "ferry")
	// Built without -race whatever the test process uses: the proxy is
	// measured and stressed as it ships.
	build := exec.Command("go", "build", "-o", ferryBin, "../cmd/ferry")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "test: go build ../cmd/ferry:", err)
		return 1
	}
	return m.Run()
}

// statSources stats every file the ferry binary is built from. go test
// caches a passing result by the test's own inputs and the files the test
// touched; the binary these tests run is built in TestMain, from files the
// test binary does not import, so without this a change to ferry's code
// would replay a stale pass. (It runs from startFerry: go test records
// what a test touches only once m.Run has begun.)
var statSourcesOnce sync.Once

func statSources(root string) {
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "test" || d.Name() == "testdata"):
			return filepath.SkipDir
		case !d.IsDir() && (strings.HasSuffix(path, ".go") || d.Name() == "go.mod" || d.Name() == "go.sum" || d.Name() == "config.toml.example"):
			os.Stat(path)
		}
		return nil
	})
}

// Event is one JSON log line of ferry's stderr.
type Event map[string]any

// Msg is the event's message: "listening", "access", "shutdown", ...
func (e Event) Msg() string { return e.Str("message") }

// Str is a string field, "" when absent.
func (e Event) Str(key string) string {
	s, _ := e[key].(string)
	return s
}

// Int is a numeric field, -1 when absent. JSON numbers are float64, exact
// for the byte counts tests use (below 2^53).
func (e Event) Int(key string) int64 {
	f, ok := e[key].(float64)
	if !ok {
		return -1
	}
	return int64(f)
}

// Ferry is one running ferry process.
type Ferry struct {
	Addr   string    // bound address of the first listener (its listening event)
	Config string    // path of the config file this run loaded
	Cmd    *exec.Cmd // the process; Cmd.Process.Pid for /proc

	t      testing.TB
	mu     sync.Mutex
	events []Event       // every JSON line, in order
	lines  []string      // every line as written, JSON or not
	other  []string      // the lines that are not JSON
	onlyJS bool          // ExpectOnlyJSON was called
	grew   chan struct{} // closed (and replaced) when a line arrives
	exited chan struct{} // closed once the process exited and stderr is drained
	code   int           // exit status, valid after exited
	stop   sync.Once
	killed bool // Kill was called: no clean exit is expected
}

// Kill ends ferry with SIGKILL, as a crash would, and waits for it.
func (f *Ferry) Kill() {
	f.mu.Lock()
	f.killed = true
	f.mu.Unlock()
	f.Cmd.Process.Kill()
	<-f.exited
}

func (f *Ferry) wasKilled() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.killed
}

// startFerry writes configTOML to a file in t.TempDir(), starts ferry with
// -config FILE and args, and returns once the first listening event gave
// its address. At cleanup ferry gets SIGTERM and must exit 0 within
// stopTimeout; it is killed and the test fails otherwise.
func startFerry(t testing.TB, configTOML string, args ...string) *Ferry {
	t.Helper()
	return startFerryUnder(t, nil, configTOML, args...)
}

// startFerryUnder is startFerry with ferry run by prefix, a command that
// execs the rest (ip netns exec NAME), so that it keeps ferry's pid.
func startFerryUnder(t testing.TB, prefix []string, configTOML string, args ...string) *Ferry {
	t.Helper()
	path := writeConfig(t, configTOML)
	f := launchUnder(t, prefix, append([]string{"-config", path}, args...)...)
	f.Config = path
	t.Cleanup(func() {
		if code := f.Stop(); code != 0 && !f.wasKilled() {
			t.Errorf("ferry exited with status %d after SIGTERM, want 0", code)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.onlyJS && len(f.other) > 0 {
			t.Errorf("ferry wrote %d lines that are not JSON log lines to stderr:\n%s", len(f.other), strings.Join(f.other, "\n"))
		}
	})
	f.Addr = f.WaitEvent("listening", nil).Str("addr")
	if f.Addr == "" {
		t.Fatalf("listening event without addr")
	}
	return f
}

// writeConfig writes a config file into t.TempDir() and returns its path.
func writeConfig(t testing.TB, configTOML string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ferry.toml")
	if err := os.WriteFile(path, []byte(configTOML), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// launch starts ferry with args and collects its stderr lines.
func launch(t testing.TB, args ...string) *Ferry {
	t.Helper()
	return launchUnder(t, nil, args...)
}

// launchUnder is launch with ferry run by prefix (see startFerryUnder).
func launchUnder(t testing.TB, prefix []string, args ...string) *Ferry {
	statSourcesOnce.Do(func() { statSources("..") })
	t.Helper()
	f := &Ferry{t: t, grew: make(chan struct{}), exited: make(chan struct{})}
	argv := append(append(slices.Clone(prefix), ferryBin), args...)
	f.Cmd = exec.Command(argv[0], argv[1:]...)
	stderr, err := f.Cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go f.collect(stderr)
	t.Cleanup(func() {
		if t.Failed() {
			f.dumpTail(40)
		}
	})
	return f
}

func (f *Ferry) collect(stderr interface{ Read([]byte) (int, error) }) {
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var ev Event
		if json.Unmarshal([]byte(line), &ev) != nil {
			ev = nil
		}
		f.mu.Lock()
		f.lines = append(f.lines, line)
		if ev != nil {
			f.events = append(f.events, ev)
		} else {
			f.other = append(f.other, line)
		}
		close(f.grew)
		f.grew = make(chan struct{})
		f.mu.Unlock()
	}
	err := f.Cmd.Wait()
	f.code = 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		f.code = ee.ExitCode() // -1 when killed by a signal
	} else if err != nil {
		f.code = -1
	}
	close(f.exited)
}

// WaitEvent waits up to eventTimeout for an event with message msg for
// which match (nil matches all) is true, looking at every event since the
// start, and returns the first. It fails the test if none comes or ferry
// exits first. Call it from the test goroutine.
func (f *Ferry) WaitEvent(msg string, match func(Event) bool) Event {
	f.t.Helper()
	return f.WaitEvents(msg, match, 1)[0]
}

// WaitEvents is WaitEvent for the first n matching events.
func (f *Ferry) WaitEvents(msg string, match func(Event) bool, n int) []Event {
	f.t.Helper()
	deadline := time.NewTimer(eventTimeout)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		found := f.matching(msg, match)
		grew := f.grew
		f.mu.Unlock()
		if len(found) >= n {
			return found[:n]
		}
		select {
		case <-grew:
		case <-f.exited:
			f.mu.Lock()
			found = f.matching(msg, match)
			f.mu.Unlock()
			if len(found) >= n {
				return found[:n]
			}
			f.t.Fatalf("ferry exited (status %d) with %d of %d %q events", f.code, len(found), n, msg)
		case <-deadline.C:
			f.t.Fatalf("no %d %q events within %v (have %d)", n, msg, eventTimeout, len(found))
		}
	}
}

func (f *Ferry) matching(msg string, match func(Event) bool) []Event {
	var out []Event
	for _, e := range f.events {
		if e.Msg() == msg && (match == nil || match(e)) {
			out = append(out, e)
		}
	}
	return out
}

// Events returns the events with message msg seen so far.
func (f *Ferry) Events(msg string) []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.matching(msg, nil)
}

// AddrOf waits for the listening event of the named listener and returns
// its bound address.
func (f *Ferry) AddrOf(name string) string {
	f.t.Helper()
	return f.WaitEvent("listening", func(e Event) bool { return e.Str("listener") == name }).Str("addr")
}

// ExpectOnlyJSON makes the cleanup of startFerry, once ferry has exited,
// fail the test if anything but JSON log lines reached stderr: a panic's
// trace, or a library writing around the logger.
func (f *Ferry) ExpectOnlyJSON() {
	f.mu.Lock()
	f.onlyJS = true
	f.mu.Unlock()
}

// Reload writes configTOML over the config file ferry was started with,
// sends SIGHUP and returns the reload event that answers it (the first
// after those already logged). Its "ok" field says whether the new
// config was taken.
func (f *Ferry) Reload(configTOML string) Event {
	f.t.Helper()
	if err := os.WriteFile(f.Config, []byte(configTOML), 0o600); err != nil {
		f.t.Fatal(err)
	}
	n := len(f.Events("reload"))
	f.Signal(syscall.SIGHUP)
	return f.WaitEvents("reload", nil, n+1)[n]
}

// Signal sends sig to the process.
func (f *Ferry) Signal(sig os.Signal) {
	f.t.Helper()
	if err := f.Cmd.Process.Signal(sig); err != nil {
		f.t.Fatalf("signal %v: %v", sig, err)
	}
}

// Exited is closed once the process has exited and its stderr is read.
func (f *Ferry) Exited() <-chan struct{} { return f.exited }

// Stop sends SIGTERM (once), waits up to stopTimeout for the exit and
// returns the exit status. After the deadline it kills ferry, fails the
// test and returns -1. Calling it again returns the same status.
func (f *Ferry) Stop() int {
	f.stop.Do(func() {
		select {
		case <-f.exited:
			return
		default:
		}
		f.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-f.exited:
		case <-time.After(stopTimeout):
			f.Cmd.Process.Kill()
			<-f.exited
			f.t.Errorf("ferry did not exit within %v of SIGTERM; killed", stopTimeout)
		}
	})
	return f.WaitExit()
}

// WaitExit waits up to stopTimeout for the process to exit by itself and
// returns its status; it fails the test on timeout.
func (f *Ferry) WaitExit() int {
	f.t.Helper()
	select {
	case <-f.exited:
		return f.code
	case <-time.After(stopTimeout):
		f.t.Fatalf("ferry still running after %v", stopTimeout)
		return -1
	}
}

func (f *Ferry) dumpTail(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	lines := f.lines[max(0, len(f.lines)-n):]
	f.t.Logf("ferry stderr (last %d of %d lines):\n%s", len(lines), len(f.lines), strings.Join(lines, "\n"))
}

// runFerry runs ferry with args to its end (a flag, a bad config) under
// runTimeout and returns its exit status, stdout and stderr.
func runFerry(t testing.TB, args ...string) (code int, stdout, stderr string) {
	statSourcesOnce.Do(func() { statSources("..") })
	t.Helper()
	return runCmd(t, runTimeout, nil, ferryBin, args...)
}

// runCmd runs the program name with args to its end and returns its exit
// status, stdout and stderr. env nil inherits the test's environment. It
// fails the test if the program cannot start or is still running after
// timeout (then it is killed).
func runCmd(t testing.TB, timeout time.Duration, env []string, name string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v still running after %v", filepath.Base(name), args, timeout)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}
