package test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// throttleWorld is a ferry requiring auth (users carol, bob and dave, with
// passwords c-pw, b-pw, d-pw) in front of an origin, with throttleTOML
// added to its config.
type throttleWorld struct {
	t      *testing.T
	f      *Ferry
	origin *aclOrigin
}

func newThrottleWorld(t *testing.T, throttleTOML string) *throttleWorld {
	origin := newACLOrigin(t)
	f := startFerry(t, fmt.Sprintf(`
[[listener]]
address = "127.0.0.1:0"
auth = true
%s
[[auth.user]]
name = "carol"
bcrypt = %q
[[auth.user]]
name = "bob"
bcrypt = %q
[[auth.user]]
name = "dave"
bcrypt = %q

[[acl.rule]]
name = "allow-origin"
action = "allow"
ip = "127.0.0.1"
port = %s
`, throttleTOML, bcryptOf(t, "c-pw"), bcryptOf(t, "b-pw"), bcryptOf(t, "d-pw"), origin.port))
	return &throttleWorld{t, f, origin}
}

func (w *throttleWorld) request(user, pw, path string) string {
	return fmt.Sprintf("GET %s%s HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic %s\r\n\r\n",
		w.origin.URL, path, base64.StdEncoding.EncodeToString([]byte(user+":"+pw)))
}

// send writes req from the loopback address src and returns the conn,
// deadline set; safe on any goroutine.
func (w *throttleWorld) send(src string, req []byte) (net.Conn, error) {
	d := net.Dialer{Timeout: ioTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", w.f.Addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// get sends one request from src and returns the status and head of the
// answer; safe on any goroutine.
func (w *throttleWorld) get(src, user, pw, path string) (int, string, error) {
	c, err := w.send(src, []byte(w.request(user, pw, path)))
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	return readHead(c)
}

// refusal checks that head is a clear refusal whose Proxy-Status details
// contain why.
func refusal(head, why string) error {
	ra, _ := strconv.Atoi(headerOf(head, "Retry-After"))
	ps := headerOf(head, "Proxy-Status")
	if !strings.HasPrefix(head, "HTTP/1.1 429") || ra < 1 || !strings.HasPrefix(ps, "ferry; error=http_request_denied") ||
		!strings.Contains(ps, why) || headerOf(head, "Proxy-Authenticate") != "" {
		return fmt.Errorf("want a 429 saying %q, with Retry-After, got:\n%s", why, head)
	}
	return nil
}

const attacker = "127.0.0.3"

// TestAuthThrottleFlood: with the default limits, a client guessing over
// 60 parallel connections gets at most its budget of 30 checks, the rest
// a clear 429, while a client elsewhere logs in (issue 20 item 5).
func TestAuthThrottleFlood(t *testing.T) {
	w := newThrottleWorld(t, "")
	answers := make(chan string, 60)
	for i := range cap(answers) {
		c := dialFrom(t, attacker, w.f.Addr)
		go func() { // each guess at a name of its own: only the client's limits hold
			io.WriteString(c, w.request(fmt.Sprint("user", i), "guess", "/guess"))
			_, head, err := readHead(c)
			if err != nil {
				head = err.Error()
			}
			answers <- head
		}()
	}
	if code, head, err := w.get("127.0.0.2", "bob", "b-pw", "/bob"); code != 200 {
		t.Fatalf("bob from another address during the flood: %v %s", err, head)
	}
	counts := map[int]int{}
	for range cap(answers) {
		head := <-answers
		var code int
		fmt.Sscanf(head, "HTTP/1.1 %d", &code)
		counts[code]++
		if err := refusal(head, "from "+attacker); code == 429 && err != nil {
			t.Fatal(err)
		}
	}
	if counts[407] > 30 || counts[407]+counts[429] != cap(answers) {
		t.Fatalf("answers %v: want at most 30 checked (407), the rest 429", counts)
	}
	ev := accessOf(w.f, "/guess", func(e Event) bool { return e.Int("status") == 429 })
	if ev.Str("proxy_status") != "http_request_denied" || !strings.Contains(ev.Str("err"), "too many") || ev.Str("user") != "" {
		t.Fatalf("access event %v", ev)
	}
}

// TestAuthThrottleRefusals: once an address has spent its failures, every
// front end refuses its unverified logins clearly (HTTP 429 for curl and
// for CONNECT, SOCKS5 an auth failure), with an access line saying why;
// a neighbour behind it whose credentials were verified lately goes on.
func TestAuthThrottleRefusals(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (.ci/run installs it)")
	}
	curlEnv := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	// 2 failures a minute: no token comes back during the test.
	w := newThrottleWorld(t, "[auth.throttle]\nclient_failures = 2\nuser_failures = 0\n")
	if code, head, err := w.get(attacker, "carol", "c-pw", "/carol"); code != 200 {
		t.Fatalf("carol: %v %s", err, head)
	}
	for i := range 2 {
		if code, head, err := w.get(attacker, "x", "guess", fmt.Sprint("/guess", i)); code != 407 {
			t.Fatalf("guess %d: %v %s", i, err, head)
		}
	}
	curlFrom := func(args ...string) (stdout, stderr string, err error) {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, curl, append([]string{"-sS", "--interface", attacker, "-x", "http://" + w.f.Addr, "--proxy-user", "x:y"}, args...)...)
		var out, errs bytes.Buffer
		cmd.Env, cmd.Stdout, cmd.Stderr = curlEnv, &out, &errs
		err = cmd.Run()
		return out.String(), errs.String(), err
	}
	// Each refusal is held for up to 5 s: all at once, each on a goroutine
	// of its own (so no t.Fatal in them).
	probes := map[string]func() error{
		"a third guess": func() error {
			_, head, err := w.get(attacker, "x", "guess", "/guess3")
			return errors.Join(err, refusal(head, "too many failed logins from "+attacker))
		},
		"dave, not verified lately": func() error {
			_, head, err := w.get(attacker, "dave", "d-pw", "/dave")
			return errors.Join(err, refusal(head, "too many failed logins"))
		},
		"curl": func() error {
			out, errs, _ := curlFrom("-D", "-", "-o", "/dev/null", w.origin.URL+"/curl")
			if err := refusal(out, attacker); err != nil {
				return fmt.Errorf("%v (%s)", err, errs)
			}
			return nil
		},
		"curl -p": func() error {
			if _, errs, err := curlFrom("-p", w.origin.URL+"/"); err == nil || !strings.Contains(errs, "429") {
				return fmt.Errorf("exit %v: %s", err, errs)
			}
			return nil
		},
		"socks5": func() error { // RFC 1929: a failure status, then the close
			c, err := w.send(attacker, []byte{5, 1, 2})
			if err != nil {
				return err
			}
			defer c.Close()
			got := make([]byte, 4)
			if _, err := io.ReadFull(c, got[:2]); err != nil {
				return err
			}
			// Not carol: a name guessed from this address loses its pass.
			c.Write(append(append([]byte{1, 5}, "eve00"...), append([]byte{3}, "bad"...)...))
			if _, err := io.ReadFull(c, got[2:]); err != nil {
				return err
			}
			if n, err := c.Read(make([]byte, 1)); !bytes.Equal(got, []byte{5, 2, 1, 1}) || err != io.EOF {
				return fmt.Errorf("replies % x, then %d bytes, %v; want 05 02 01 01 and EOF", got, n, err)
			}
			return nil
		},
		"carol, verified lately": func() error {
			if code, head, err := w.get(attacker, "carol", "c-pw", "/carol-again"); code != 200 {
				return fmt.Errorf("%v %s", err, head)
			}
			return nil
		},
	}
	errs := make(chan error, len(probes))
	for name, probe := range probes {
		go func() {
			if err := probe(); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				return
			}
			errs <- nil
		}()
	}
	for range probes {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	ev := accessOf(w.f, "/guess3", nil)
	if ev.Int("status") != 429 || ev.Str("proxy_status") != "http_request_denied" ||
		!strings.Contains(ev.Str("err"), "too many failed logins from 127.0.0.3 (limit 2 a minute)") {
		t.Fatalf("access event %v", ev)
	}
	ev = w.f.WaitEvent("access", func(e Event) bool { return e.Str("proto") == "socks5" && e.Str("method") == "AUTH" })
	if ev.Int("status") != 1 || ev.Str("proxy_status") != "http_request_denied" || !strings.Contains(ev.Str("err"), "too many failed logins") {
		t.Fatalf("socks access event %v", ev)
	}
}
