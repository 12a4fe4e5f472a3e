package connect

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
)

// Issue 20 item 10: ferry's own answer is written under a deadline of its
// own (handshake_timeout), not the idle timeout: a client that asks and
// never reads cannot hold the answer, and its slot, for long. net.Pipe
// has no buffer, so every write waits for a reader that never comes.
func TestAnswerHasItsOwnDeadline(t *testing.T) {
	engine := tunnel.New(tunnel.Config{IdleTimeout: time.Hour}, nil)
	t.Cleanup(engine.Close)
	s := New(Config{HandshakeTimeout: 100 * time.Millisecond}, engine, nil, zerolog.Nop())
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	hc := &httpConn{s: s, c: server, bw: bufio.NewWriter(server)}
	w := newResponse(hc, &http.Request{Method: http.MethodGet, ProtoMinor: 1})
	done := make(chan bool, 1)
	go func() {
		s.refuse(w, w.r, &accesslog.Record{}, &tunnel.Error{Kind: tunnel.Denied, Rule: "no", Err: errString("denied")})
		done <- w.finish()
	}()
	select {
	case keep := <-done:
		if keep || w.err == nil {
			t.Fatalf("finish = %v, err %v; want the write to fail at its deadline", keep, w.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the answer to a client that never reads was still being written after 10s")
	}
}
