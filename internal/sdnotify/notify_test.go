package sdnotify

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// listen opens a unixgram socket as systemd does and points
// $NOTIFY_SOCKET at it.
func listen(t *testing.T, abstract bool) *net.UnixConn {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify")
	env := name
	if abstract {
		name = "\x00ferry-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		env = "@" + name[1:]
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv(Socket, env)
	return c
}

func read(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 4096)
	n, err := c.Read(b)
	if err != nil {
		t.Fatalf("no datagram: %v", err)
	}
	return string(b[:n])
}

func TestNotify(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(map[bool]string{false: "path", true: "abstract"}[abstract], func(t *testing.T) {
			c := listen(t, abstract)
			if err := Ready("listening on 127.0.0.1:8080\nmore"); err != nil {
				t.Fatal(err)
			}
			if got := read(t, c); got != "READY=1\nSTATUS=listening on 127.0.0.1:8080 more" {
				t.Errorf("Ready sent %q", got)
			}

			if err := Reloading(); err != nil {
				t.Fatal(err)
			}
			got := read(t, c)
			us, ok := strings.CutPrefix(got, "RELOADING=1\nMONOTONIC_USEC=")
			n, err := strconv.ParseInt(us, 10, 64)
			if !ok || err != nil || n <= 0 {
				t.Errorf("Reloading sent %q, want RELOADING=1 and a positive MONOTONIC_USEC", got)
			}
			if now, _ := monotonicUsec(); n > now {
				t.Errorf("MONOTONIC_USEC %d is after now %d", n, now)
			}

			if err := Stopping(); err != nil {
				t.Fatal(err)
			}
			if got := read(t, c); !strings.HasPrefix(got, "STOPPING=1\n") {
				t.Errorf("Stopping sent %q", got)
			}
		})
	}
}

func TestNotifyWithoutSystemd(t *testing.T) {
	t.Setenv(Socket, "")
	if err := Ready("x"); err != nil {
		t.Errorf("without %s: %v, want nil", Socket, err)
	}
	t.Setenv(Socket, "relative/path")
	if err := Ready("x"); err == nil {
		t.Error("a relative socket path was accepted")
	}
	t.Setenv(Socket, filepath.Join(t.TempDir(), "nobody-listens"))
	if err := Ready("x"); err == nil {
		t.Error("a socket nobody listens on: no error")
	}
}
