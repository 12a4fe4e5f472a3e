package test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// echoRoundTrip writes msg to an echo tunnel and reads it back.
func echoRoundTrip(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("tunnel write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("tunnel echo %q, %v; want %q", got, err, msg)
	}
}

// notServed checks that a new connection to addr is not served: either
// the dial fails, or the conn ends without an answer to a CONNECT.
func notServed(t testing.TB, addr, target string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return // refused: the listener is closed
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	fmt.Fprint(c, connectReq(target))
	b, err := io.ReadAll(c)
	if len(b) > 0 || isTimeout(err) {
		t.Fatalf("a connection after SIGTERM got %q, %v; want it refused or closed", b, err)
	}
}

// TestDrainOnSIGTERM: on SIGTERM ferry stops accepting, open tunnels keep
// working during the grace period, and ferry exits 0 once they end.
func TestDrainOnSIGTERM(t *testing.T) {
	f := startFerry(t, minimalConfig+`
[limits]
shutdown_grace = "60s"
`)
	origin := echoOrigin(t)
	c := connectTunnel(t, f.Addr, origin)
	echoRoundTrip(t, c, "before")

	f.Signal(syscall.SIGTERM)
	f.WaitEvent("shutdown", nil)
	echoRoundTrip(t, c, "during the grace period")
	notServed(t, f.Addr, origin)
	echoRoundTrip(t, c, "still during the grace period")
	select {
	case <-f.Exited():
		t.Fatal("ferry exited with a tunnel still open inside the grace period")
	default:
	}

	c.CloseWrite()
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("after the half-close read %q, %v; want EOF", b, err)
	}
	c.Close()
	if code := f.WaitExit(); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	if ev := f.WaitEvent("stopped", nil); ev["clean"] != true {
		t.Errorf("stopped event %v, want clean", ev)
	}
	ev := f.WaitEvent("access", func(e Event) bool { return e.Str("client") == c.LocalAddr().String() })
	if want := int64(len("before") + len("during the grace period") + len("still during the grace period")); ev.Int("bytes_up") != want || ev.Int("bytes_down") != want {
		t.Errorf("access event %v, want %d bytes each way", ev, want)
	}
}

// TestGraceExpires: a tunnel still open when the grace period ends is
// closed, and ferry exits 0.
func TestGraceExpires(t *testing.T) {
	f := startFerry(t, minimalConfig+`
[limits]
shutdown_grace = "300ms"
`)
	c := connectTunnel(t, f.Addr, echoOrigin(t))
	echoRoundTrip(t, c, "ping")
	f.Signal(syscall.SIGTERM)
	if code := f.WaitExit(); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	if ev := f.WaitEvent("stopped", nil); ev["clean"] != false {
		t.Errorf("stopped event %v, want clean false", ev)
	}
	if b, err := io.ReadAll(c); len(b) != 0 || isTimeout(err) {
		t.Errorf("tunnel after the grace: read %q, %v; want it closed", b, err)
	}
}

// TestMaxConns: with max_conns open, the next connection gets a clean
// refusal (HTTP 503, a SOCKS reply where one can be given without a
// login), not a hang, and an access event.
func TestMaxConns(t *testing.T) {
	const maxConns = 2
	f := startFerry(t, minimalConfig+fmt.Sprintf(`
[limits]
max_conns = %d
shutdown_grace = "2s"
`, maxConns))
	origin := echoOrigin(t)
	for i := range maxConns {
		echoRoundTrip(t, connectTunnel(t, f.Addr, origin), fmt.Sprint("tunnel ", i))
	}

	t.Run("HTTP gets 503", func(t *testing.T) {
		c := dial(t, f.Addr)
		fmt.Fprint(c, connectReq(origin))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("over the limit: %v, want a 503", err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" ||
			!strings.HasPrefix(resp.Header.Get("Proxy-Status"), "ferry; error=") || !strings.Contains(string(body), "too many connections") {
			t.Errorf("over the limit got %d %v %q", resp.StatusCode, resp.Header, body)
		}
	})
	// SOCKS has no "busy" before the request: a client that can be
	// answered without a login is refused its request; one offering no
	// method served here is told so, as under the limit.
	socks := []struct {
		name   string
		send   string // the greeting and request at once
		want   []byte
		proto  string
		status int64
		target string
		err    string
	}{
		{"SOCKS5 no-auth gets general failure", "\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50",
			[]byte{5, 0, 5, 1, 0, 1, 0, 0, 0, 0, 0, 0}, "socks5", 1, "127.0.0.1:80", "over max_conns"},
		{"SOCKS4 gets 91", "\x04\x01\x00\x50\x7f\x00\x00\x01\x00", []byte{0, 91, 0, 0, 0, 0, 0, 0}, "socks4", 91, "127.0.0.1:80", "over max_conns"},
		{"SOCKS5 login-only gets no method", "\x05\x01\x02", []byte{5, 0xFF}, "socks5", 0xFF, "", "over max_conns"},
		{"SOCKS5 without its request is closed", "\x05\x01\x00", []byte{5, 0}, "socks5", 1, "", "request not read"},
	}
	for _, tt := range socks {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, f.Addr)
			c.Write([]byte(tt.send))
			b, err := io.ReadAll(c)
			if !bytes.Equal(b, tt.want) || isTimeout(err) {
				t.Errorf("over the limit got % x, %v; want % x and the conn closed", b, err, tt.want)
			}
		})
	}
	if n := len(f.WaitEvents("connection refused: over limit", nil, 1+len(socks))); n != 1+len(socks) {
		t.Errorf("%d over-limit events, want %d", n, 1+len(socks))
	}
	ev := f.WaitEvent("access", func(e Event) bool { return e.Int("status") == 503 })
	if ev.Str("proxy_status") != "connection_limit_reached" || ev.Str("proto") != "http" {
		t.Errorf("access event of the HTTP refusal %v; want proto http, connection_limit_reached", ev)
	}
	for _, tt := range socks {
		ev = f.WaitEvent("access", func(e Event) bool {
			return e.Str("proto") == tt.proto && e.Int("status") == tt.status && e.Str("target") == tt.target
		})
		if ev.Str("proxy_status") != "connection_limit_reached" || !strings.Contains(ev.Str("err"), tt.err) {
			t.Errorf("%s: access event %v; want connection_limit_reached, err with %q", tt.name, ev, tt.err)
		}
	}
}

// TestMaxConnsAuthSOCKS: over max_conns, a listener that requires a login
// never tells a SOCKS5 client it needs none: offering only "no
// authentication" gets "no acceptable method", as under the limit, and
// offering a login too gets a close.
func TestMaxConnsAuthSOCKS(t *testing.T) {
	f := startFerry(t, fmt.Sprintf(`
[[listener]]
address = "127.0.0.1:0"
auth = true

[[auth.user]]
name = "alice"
bcrypt = %q

[limits]
max_conns = 1
`, bcryptOf(t, "pw")))
	held := dial(t, f.Addr)
	defer held.Close()
	held.Write([]byte{5, 1, 2}) // a greeting: the conn is served, and counted
	got := make([]byte, 2)
	if _, err := io.ReadFull(held, got); err != nil || !bytes.Equal(got, []byte{5, 2}) {
		t.Fatalf("under the limit: % x, %v; want 05 02", got, err)
	}
	for _, tt := range []struct {
		name     string
		greeting []byte
		want     []byte
	}{
		{"no-auth only", []byte{5, 1, 0}, []byte{5, 0xFF}},
		{"no-auth and login", []byte{5, 2, 0, 2}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, f.Addr)
			c.Write(tt.greeting)
			b, err := io.ReadAll(c)
			if !bytes.Equal(b, tt.want) || isTimeout(err) {
				t.Errorf("over the limit got % x, %v; want % x and the conn closed", b, err, tt.want)
			}
		})
	}
}

// TestBadConfig: a bad config file is refused at start with exit status 2
// and a message naming file:line and the reason.
func TestBadConfig(t *testing.T) {
	tests := []struct {
		name, config string
		line         int
		reason       string
	}{
		{"unknown key", "[[listener]]\naddress = \"127.0.0.1:0\"\n\n[limits]\ndial_timout = \"1s\"\n", 5, "unknown key"},
		{"wrong type", "[limits]\nmax_conns = \"many\"\n", 2, "max_conns"},
		{"negative timeout", "[limits]\nhandshake_timeout = \"5s\"\nidle_timeout = \"-1s\"\n", 3, "must not be negative"},
		{"bad address", "[[listener]]\nname = \"a\"\naddress = \"localhost\"\n", 3, "bad address"},
		{"bad protocol", "[[listener]]\naddress = \"127.0.0.1:0\"\nprotocol = \"gopher\"\n", 3, "must be auto, http or socks"},
		{"TOML syntax", "[limits]\ndial_timeout = 10s\n", 2, "expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.config)
			code, _, stderr := runFerry(t, "-config", path)
			if code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			if loc := fmt.Sprintf("%s:%d", path, tt.line); !strings.Contains(stderr, loc) || !strings.Contains(stderr, tt.reason) {
				t.Errorf("stderr %q does not name %s and %q", stderr, loc, tt.reason)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		code, _, stderr := runFerry(t, "-config", "/nonexistent/ferry.toml")
		if code != 2 || !strings.Contains(stderr, "/nonexistent/ferry.toml") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}

// TestListenFlag: -listen replaces the config's listeners, and is
// repeatable.
func TestListenFlag(t *testing.T) {
	f := startFerry(t, minimalConfig, "-listen", "127.0.0.1:0", "-listen", "127.0.0.1:0")
	if n := len(f.WaitEvents("listening", nil, 2)); n != 2 {
		t.Fatalf("%d listening events", n)
	}
	for _, name := range []string{"listen0", "listen1"} {
		addr := f.AddrOf(name)
		resp, err := (&http.Client{Timeout: ioTimeout}).Get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("%s at %s: %v", name, addr, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s status page: %d", name, resp.StatusCode)
		}
	}
	for _, ev := range f.Events("listening") {
		if ev.Str("listener") == "main" {
			t.Errorf("the config's listener still listens: %v", ev)
		}
	}
	code, _, stderr := runFerry(t, "-listen", "nope")
	if code != 2 || !strings.Contains(stderr, "-listen") || !strings.Contains(stderr, "nope") {
		t.Errorf("-listen nope: exit %d, stderr %q", code, stderr)
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"-version", []string{"-version"}, 0, "ferry ", ""},
		{"-h", []string{"-h"}, 0, "", "Usage: ferry"},
		{"unknown flag", []string{"-bogus"}, 2, "", "flag provided but not defined"},
		{"stray argument", []string{"extra"}, 2, "", `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runFerry(t, tt.args...)
			if code != tt.code || !strings.HasPrefix(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q..., ...%q...", code, stdout, stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
	_, _, usage := runFerry(t, "-h")
	for _, flag := range []string{"-config", "-listen", "-version"} {
		if !strings.Contains(usage, flag) {
			t.Errorf("-h does not document %s", flag)
		}
	}
	_, version, _ := runFerry(t, "-version")
	if !strings.Contains(version, "go1.") {
		t.Errorf("-version %q does not name the Go version", version)
	}
}

// TestReload: SIGHUP re-reads the config; a bad file is refused with a
// reload event naming the reason and ferry keeps serving.
func TestReload(t *testing.T) {
	f := startFerry(t, minimalConfig)
	origin := echoOrigin(t)
	tests := []struct {
		name, config string
		ok           bool
	}{
		{"bad file refused", minimalConfig + "\n[limits]\nmax_conns = -1\n", false},
		{"good file accepted", minimalConfig + "\n[limits]\nmax_conns = 5\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := f.Reload(tt.config)
			if ev["ok"] != tt.ok {
				t.Errorf("reload event %v, want ok %v", ev, tt.ok)
			}
			if !tt.ok && !strings.Contains(ev.Str("err"), "max_conns") {
				t.Errorf("reload event %v does not name the bad key", ev)
			}
			echoRoundTrip(t, connectTunnel(t, f.Addr, origin), "still serving")
		})
	}
}

// TestReloadStartOnly: a reload that changes a table applied only at start
// ([limits], [http], [http2], [log], [admin], [cache]) is accepted for the
// rest, keeps the running values, and says which tables wait for a
// restart; a reload that changes none of them says nothing of the kind.
func TestReloadStartOnly(t *testing.T) {
	f := startFerry(t, minimalConfig)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("Via"))
	}))
	t.Cleanup(origin.Close)
	c := proxyClient(t, f.Addr, nil)

	if ev := f.Reload(minimalConfig + "\n[http]\nvia = \"renamed\"\n[limits]\nidle_timeout = \"1m\"\n"); ev["ok"] != true {
		t.Fatalf("reload event %v, want ok", ev)
	}
	warns := f.Events("reload: [limits], [http] changed in the file: applied at the next start, not on reload")
	if len(warns) != 1 {
		t.Fatalf("%d warnings naming [limits] and [http], want 1", len(warns))
	}
	if _, via := get(t, c, context.Background(), origin.URL+"/"); via != "1.1 ferry" {
		t.Errorf("after the reload the origin saw Via %q, want the start's \"1.1 ferry\"", via)
	}

	if ev := f.Reload(minimalConfig + "timezone = \"UTC\"\n"); ev["ok"] != true { // [acl] only
		t.Fatalf("reload event %v, want ok", ev)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.events {
		if strings.HasPrefix(e.Msg(), "reload: ") && e.Msg() != warns[0].Msg() {
			t.Errorf("a reload of the rules only: %v", e)
		}
	}
}

// TestStartingEvent: the first event says which ferry starts, from which
// config file, to listen where (#16 item 5); a start that fails with the
// console format writes no colour codes into the pipe it logs to.
func TestStartingEvent(t *testing.T) {
	f := startFerry(t, minimalConfig)
	evs := f.Events("starting")
	if len(evs) != 1 {
		t.Fatalf("%d starting events, want 1", len(evs))
	}
	ev := evs[0]
	ls, _ := ev["listeners"].([]any)
	if ev.Str("version") == "" || ev.Str("go") == "" || ev.Str("config") != f.Config || len(ls) != 1 || ls[0] != "main 127.0.0.1:0" {
		t.Errorf("starting event %v: want version, go, config %s and listeners [main 127.0.0.1:0]", ev, f.Config)
	}

	taken := f.AddrOf("main") // a port in use: the start fails after logging
	code, _, stderr := runFerry(t, "-config", writeConfig(t, fmt.Sprintf("[[listener]]\naddress = %q\n[log]\nformat = \"console\"\n", taken)))
	if code != 1 || !strings.Contains(stderr, "starting") || !strings.Contains(stderr, "address already in use") {
		t.Fatalf("exit %d, stderr %q; want 1 after a console starting line and the bind error", code, stderr)
	}
	if strings.Contains(stderr, "\x1b[") {
		t.Errorf("colour codes in a pipe: %q", stderr)
	}
}

// TestHashPassword: ferry hash-password hashes the line on stdin, and
// refuses a password given as an argument instead of ignoring it (it would
// hash what stdin holds, or wait there) or taking it (shell history).
func TestHashPassword(t *testing.T) {
	tests := []struct {
		name, stdin, stderr string
		args                []string
		code                int
	}{
		{"stdin", "s3cret\n", "", nil, 0},
		{"an argument", "other\n", `unexpected argument "s3cret"`, []string{"s3cret"}, 2},
		{"-h", "", "Usage: ferry hash-password", []string{"-h"}, 0},
		{"nothing on stdin", "", "on standard input", nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, ferryBin, append([]string{"hash-password"}, tt.args...)...)
			cmd.Stdin = strings.NewReader(tt.stdin)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := cmd.ProcessState.ExitCode()
			if err != nil && code <= 0 {
				t.Fatal(err)
			}
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.code, tt.stderr)
			}
			hash := strings.TrimSpace(stdout.String())
			switch {
			case tt.name == "stdin":
				if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret")); err != nil {
					t.Errorf("stdout %q is not a bcrypt hash of the password: %v", hash, err)
				}
			case hash != "":
				t.Errorf("stdout %q, want nothing", hash)
			}
		})
	}
}
