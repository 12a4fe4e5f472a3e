package connect_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/connect"
)

// After a forwarded request, the read that watched the client while the
// request was served goes on as the wait for the next one (issue 19). These
// pin what that wait must still do: serve a pipelined request, the next
// request, end at keepalive_timeout, and end at Shutdown.

func getLine(o *origin, path string) string {
	return "GET " + o.URL + path + " HTTP/1.1\r\nHost: " + o.host + "\r\n\r\n"
}

func TestKeepAlivePipelinedAfterForward(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.URL.Path) })
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, getLine(o, "/a")+getLine(o, "/b"))
	for _, want := range []string{"/a", "/b"} {
		if resp, body := c.response(t, http.MethodGet); resp.StatusCode != 200 || body != want {
			t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, want)
		}
	}
	c.send(t, getLine(o, "/c")) // and the wait after them
	if resp, body := c.response(t, http.MethodGet); resp.StatusCode != 200 || body != "/c" {
		t.Fatalf("got %d %q, want 200 /c", resp.StatusCode, body)
	}
}

// readEOF reads c until ferry closes it (within the raw conn's deadline).
func readEOF(t *testing.T, c *raw) {
	t.Helper()
	b, err := io.ReadAll(c.br)
	if err != nil || len(b) > 0 {
		t.Fatalf("after the response: %q, %v; want ferry to close the connection", b, err)
	}
}

func TestKeepAliveTimeoutAfterForward(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	w := newWorld(t, options{cfg: connect.Config{Limits: connect.Limits{KeepAliveTimeout: 100 * time.Millisecond}}})
	c := w.raw(t)
	c.send(t, getLine(o, "/"))
	if resp, _ := c.response(t, http.MethodGet); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	readEOF(t, c) // the raw conn's deadline is `bound`, far above keepalive_timeout
}

func TestShutdownEndsIdleAfterForward(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, getLine(o, "/"))
	if resp, _ := c.response(t, http.MethodGet); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.srv.Shutdown(ctx) }()
	readEOF(t, c)
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown: %v", err)
	}
}
