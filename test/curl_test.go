package test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// runCurl runs curl -sS with args, bounded by --max-time and ioTimeout,
// and returns its stdout, stderr and exit status. Its environment is PATH
// and an empty HOME: no proxy variable or .curlrc, so only -x and --socks*
// choose the proxy. The test is skipped when curl is absent (.ci/run
// installs it).
func runCurl(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	path, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (.ci/run installs it)")
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	code, stdout, stderr = runCmd(t, ioTimeout, env, path, append([]string{"-sS", "--max-time", "10"}, args...)...)
	return stdout, stderr, code
}

// curl is runCurl for a request that must succeed: it returns stdout and
// fails the test when curl exits non-zero.
func curl(t testing.TB, args ...string) string {
	t.Helper()
	out, errs, code := runCurl(t, args...)
	if code != 0 {
		t.Fatalf("curl %v: exit %d: %s", args, code, errs)
	}
	return out
}

// TestCurl drives ferry with curl in each of its proxy modes and checks
// that the request went through the expected front end.
func TestCurl(t *testing.T) {
	f := startFerry(t, minimalConfig)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "curl reached "+r.URL.Path)
	})
	tests := []struct {
		name   string
		tls    bool
		host   string // how curl names the origin: an IP, or a name for ferry to resolve
		args   func(proxy, url string) []string
		proto  string
		status int64 // access event status: HTTP status or SOCKS reply code
	}{
		{"-x http:// (absolute-form)", false, "127.0.0.1", func(p, u string) []string { return []string{"-x", "http://" + p, u} }, "http", 200},
		{"-x http:// --proxytunnel (CONNECT)", false, "127.0.0.1", func(p, u string) []string { return []string{"--proxytunnel", "-x", "http://" + p, u} }, "connect", 200},
		{"-x http:// to https (CONNECT)", true, "127.0.0.1", func(p, u string) []string { return []string{"-k", "-x", "http://" + p, u} }, "connect", 200},
		{"-x socks5h:// (remote DNS)", false, "localhost", func(p, u string) []string { return []string{"-x", "socks5h://" + p, u} }, "socks5", 0},
		{"-x socks5:// (local DNS)", false, "127.0.0.1", func(p, u string) []string { return []string{"-x", "socks5://" + p, u} }, "socks5", 0},
		{"--socks4a (remote DNS)", false, "localhost", func(p, u string) []string { return []string{"--socks4a", p, u} }, "socks4", 90},
		{"--socks4", false, "127.0.0.1", func(p, u string) []string { return []string{"--socks4", p, u} }, "socks4", 90},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var origin *httptest.Server
			if tt.tls {
				origin = httptest.NewTLSServer(handler)
			} else {
				origin = httptest.NewServer(handler)
			}
			t.Cleanup(origin.Close)
			scheme := strings.SplitN(origin.URL, ":", 2)[0]
			target := tt.host + ":" + strconv.Itoa(portOf(t, origin.Listener.Addr().String()))
			// The port may be one an earlier subtest's origin had (each
			// waited for its own event): skip the events already there.
			isTarget := func(e Event) bool { return e.Str("target") == target }
			prior := 0
			for _, e := range f.Events("access") {
				if isTarget(e) {
					prior++
				}
			}
			out := curl(t, tt.args(f.Addr, scheme+"://"+target+"/path")...)
			if out != "curl reached /path" {
				t.Fatalf("curl got %q", out)
			}
			ev := f.WaitEvents("access", isTarget, prior+1)[prior]
			if ev.Str("proto") != tt.proto || ev.Int("status") != tt.status || ev.Str("dialed") == "" {
				t.Errorf("access event %v, want proto %s status %d and an address dialed", ev, tt.proto, tt.status)
			}
		})
	}
}
