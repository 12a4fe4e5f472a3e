package test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// notifySocket listens where ferry's sd_notify datagrams go and points
// $NOTIFY_SOCKET (inherited by the ferry started next) at it.
func notifySocket(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return c
}

// nextNotify reads one datagram under eventTimeout.
func nextNotify(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(eventTimeout))
	b := make([]byte, 4096)
	n, err := c.Read(b)
	if err != nil {
		t.Fatalf("no sd_notify message: %v", err)
	}
	return string(b[:n])
}

// TestSdNotify: the binary tells a Type=notify service manager READY=1
// once it listens, RELOADING=1 with MONOTONIC_USEC then READY=1 around a
// SIGHUP, and STOPPING=1 when it drains.
func TestSdNotify(t *testing.T) {
	sock := notifySocket(t)
	f := startFerry(t, minimalConfig)
	if got := nextNotify(t, sock); !strings.HasPrefix(got, "READY=1\n") || !strings.Contains(got, f.Addr) {
		t.Errorf("first message %q, want READY=1 and a status naming %s", got, f.Addr)
	}
	f.Signal(syscall.SIGHUP)
	got := nextNotify(t, sock)
	us, ok := strings.CutPrefix(got, "RELOADING=1\nMONOTONIC_USEC=")
	if n, err := strconv.ParseInt(us, 10, 64); !ok || err != nil || n <= 0 {
		t.Errorf("on SIGHUP %q, want RELOADING=1 and MONOTONIC_USEC", got)
	}
	if got := nextNotify(t, sock); !strings.HasPrefix(got, "READY=1\n") {
		t.Errorf("after the reload %q, want READY=1", got)
	}
	f.WaitEvent("reload", nil)
	f.Signal(syscall.SIGTERM)
	if got := nextNotify(t, sock); !strings.HasPrefix(got, "STOPPING=1") {
		t.Errorf("on SIGTERM %q, want STOPPING=1", got)
	}
	if code := f.WaitExit(); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestSystemdUnit: contrib/ferry.service has the directives the README
// promises, and systemd-analyze (when installed) finds nothing wrong with
// it pointed at the binary under test.
func TestSystemdUnit(t *testing.T) {
	unit, directives := readUnit(t)
	for _, want := range []struct{ key, value string }{
		{"Type", "notify"},
		{"DynamicUser", "yes"},
		{"NoNewPrivileges", "yes"},
		{"ProtectSystem", "strict"},
		{"ProtectHome", "yes"},
		{"PrivateTmp", "yes"},
		{"CapabilityBoundingSet", ""},
		{"AmbientCapabilities", ""},
		{"RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX AF_NETLINK"},
		{"SystemCallFilter", "@system-service"},
		{"ExecReload", "/bin/kill -HUP $MAINPID"},
		{"LimitNOFILE", "65536"},
		{"CacheDirectory", "ferry"}, // writable /var/cache/ferry, the disk_dir config.toml.example suggests
	} {
		found := false
		for _, v := range directives[want.key] {
			found = found || v == want.value
		}
		if !found {
			t.Errorf("%s=%s missing (have %q)", want.key, want.value, directives[want.key])
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: the unit is not verified")
	}
	path := filepath.Join(t.TempDir(), "ferry.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/ferry", ferryBin)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, analyze, "verify", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "ferry.service") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// readUnit reads contrib/ferry.service and its directives, each key's
// values in order.
func readUnit(t *testing.T) (unit []byte, directives map[string][]string) {
	t.Helper()
	unit, err := os.ReadFile("../contrib/ferry.service")
	if err != nil {
		t.Fatal(err)
	}
	directives = map[string][]string{}
	for _, line := range strings.Split(string(unit), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			directives[k] = append(directives[k], v)
		}
	}
	return unit, directives
}

// TestSystemdUnitAddressFamilies: with only the address families the
// unit's RestrictAddressFamilies= leaves (a seccomp filter, as systemd
// makes one), ferry check, the unit's ExecStartPre, accepts the embedded
// config, whose rules name ip "self" (this host's addresses, read and
// watched over netlink), and ferry starts, watches them, and serves.
func TestSystemdUnitAddressFamilies(t *testing.T) {
	if !familiesFilterable() {
		t.Skip("no seccomp filter for this system")
	}
	_, directives := readUnit(t)
	values := directives["RestrictAddressFamilies"]
	if len(values) != 1 {
		t.Fatalf("RestrictAddressFamilies=%q, want one line", values)
	}
	families := strings.Fields(values[0])
	for _, name := range families {
		if _, ok := addressFamilies[name]; !ok {
			t.Fatalf("the unit allows %s, which this test cannot filter", name)
		}
	}
	t.Setenv(envExecFamilies, strings.Join(families, ","))
	sandbox := []string{os.Args[0]} // TestMain execs ferry under the filter

	if code, _, stderr := runCmd(t, runTimeout, nil, os.Args[0], ferryBin, "check", "-q"); code != 0 {
		t.Fatalf("ferry check -q (ExecStartPre) with only %v: exit %d, want 0\n%s", families, code, stderr)
	}
	f := startFerryUnder(t, sandbox, "[[listener]]\naddress = \"127.0.0.1:0\"\n") // the default rules
	f.Reload("[[listener]]\naddress = \"127.0.0.1:0\"\n")                         // every start-up line is in by its event
	if ev := f.Events("starting"); len(ev) != 1 || ev[0].Str("self") == "" {
		t.Errorf("starting event %v: want the host's addresses in self", ev)
	}
	f.mu.Lock()
	for _, line := range f.lines {
		if strings.Contains(line, "self:") || strings.Contains(line, "address family not supported") {
			t.Errorf("with only %v: %s", families, line)
		}
	}
	f.mu.Unlock()
	out, _, _ := runCurl(t, "-o", "/dev/null", "-w", "%{http_code}", "-x", "http://"+f.Addr, "http://127.0.0.1:1/")
	if ev := f.WaitEvent("access", nil); out != "403" || ev.Str("rule") != "deny-internal-destinations" {
		t.Errorf("a loopback target: %s, rule %q; want 403 by deny-internal-destinations", out, ev.Str("rule"))
	}
}
