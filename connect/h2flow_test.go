package connect_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/connect"
	"github.com/ferry-proxy/ferry/tunnel"
)

// One tunnel whose target stops reading holds no more of the connection
// than its stream's window: the other streams of the connection go on,
// moving several times the connection's window (RFC 9113 §5.2).
func TestH2StalledStreamDoesNotStopOthers(t *testing.T) {
	cfg := connect.Config{}
	cfg.HTTP2.SetDefaults()
	cfg.HTTP2.StreamWindow, cfg.HTTP2.ConnWindow = 64<<10, 256<<10
	w := newH2World(t, options{cfg: cfg})
	stop := make(chan struct{})
	defer close(stop)
	stalled := rawServer(t, func(_ int, c net.Conn) { <-stop }) // reads nothing
	cc := w.h2(t)
	res, s := connectH2(t, cc, stalled, nil)
	if res.StatusCode != 200 {
		t.Fatalf("CONNECT %d", res.StatusCode)
	}
	go s.Write(make([]byte, 256<<20)) // blocks once the kernel's buffers and the window are full

	res, e := connectH2(t, cc, echoTarget(t), nil)
	if res.StatusCode != 200 {
		t.Fatalf("CONNECT %d", res.StatusCode)
	}
	msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB: 16 connection windows
	go e.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(e, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("the other stream: %v", err)
	}
}

// A tunnel whose upload is silent while its download moves outlives the
// idle timeout: a stream's read deadline that passes is moved on, not the
// stream's end (netx.DeadlineReader). Once both sides are silent for the
// idle timeout, it ends.
func TestH2IdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	w := newH2World(t, options{engine: tunnel.Config{IdleTimeout: idle}})
	const ticks = 12 // 1.2s of download: four idle timeouts
	target := rawServer(t, func(_ int, c net.Conn) {
		tick := time.NewTicker(idle / 3)
		defer tick.Stop()
		for range ticks {
			<-tick.C
			if _, err := c.Write([]byte{'.'}); err != nil {
				return
			}
		}
		io.Copy(io.Discard, c) // then silent, and open
	})
	res, s := connectH2(t, w.h2(t), target, nil)
	if res.StatusCode != 200 {
		t.Fatalf("CONNECT %d", res.StatusCode)
	}
	got, err := io.ReadAll(s)
	if len(got) != ticks {
		t.Errorf("read %d bytes (%v), want all %d: the tunnel was cut while it moved", len(got), err, ticks)
	}
	r := w.log.next(t)
	if !errors.Is(r.Err, tunnel.ErrIdle) {
		t.Errorf("tunnel ended with %v, want the idle timeout", r.Err)
	}
}

// The other way round: a tunnel whose download is silent (after a
// banner) while its upload moves outlives the idle timeout too. The write
// deadline given to x/net for the banner resets the stream when it
// passes, so it must not be left armed while only the upload moves.
func TestH2UploadOnlyOutlivesIdle(t *testing.T) {
	const idle = 300 * time.Millisecond
	w := newH2World(t, options{engine: tunnel.Config{IdleTimeout: idle}})
	const ticks = 12 // 1.2s of upload: four idle timeouts
	got := make(chan int, 1)
	target := rawServer(t, func(_ int, c net.Conn) {
		c.Write([]byte("hello"))
		n := 0
		buf := make([]byte, 16)
		for n < ticks {
			m, err := c.Read(buf)
			n += m
			if err != nil {
				break
			}
		}
		got <- n
		io.Copy(io.Discard, c)
	})
	res, s := connectH2(t, w.h2(t), target, nil)
	if res.StatusCode != 200 {
		t.Fatalf("CONNECT %d", res.StatusCode)
	}
	banner := make([]byte, 5)
	if _, err := io.ReadFull(s, banner); err != nil {
		t.Fatalf("banner: %v", err)
	}
	tick := time.NewTicker(idle / 3)
	defer tick.Stop()
	for i := range ticks {
		<-tick.C
		if _, err := s.Write([]byte{'.'}); err != nil {
			t.Fatalf("upload byte %d: %v: the tunnel was cut while it moved", i, err)
		}
	}
	if n := <-got; n != ticks {
		t.Errorf("target got %d bytes, want %d: the tunnel was cut while it moved", n, ticks)
	}
	r := w.log.next(t)
	if !errors.Is(r.Err, tunnel.ErrIdle) {
		t.Errorf("tunnel ended with %v, want the idle timeout once both ways were silent", r.Err)
	}
}

// GoAway (a reload) sends GOAWAY: the client opens no new stream on the
// connection, the tunnel open on it goes on, and the connection closes
// once that ends; a new connection is served.
func TestH2GoAwayOnReload(t *testing.T) {
	w := newH2World(t, options{})
	cc := w.h2(t)
	res, s := connectH2(t, cc, echoTarget(t), nil)
	if res.StatusCode != 200 {
		t.Fatalf("CONNECT %d", res.StatusCode)
	}
	w.srv.GoAway()
	// The GOAWAY is sent from a goroutine of net/http's Shutdown: it may
	// follow the first PING's answer, or (on a loaded machine) a later
	// one. Each PING is a round trip; the loop ends at bound.
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	for cc.CanTakeNewRequest() {
		if err := cc.Ping(ctx); err != nil {
			t.Fatalf("the client may still open streams (no GOAWAY) after pinging until: %v", err)
		}
	}
	go io.WriteString(s, "after GOAWAY")
	b := make([]byte, len("after GOAWAY"))
	if _, err := io.ReadFull(s, b); err != nil {
		t.Fatalf("the open tunnel after GOAWAY: %v", err)
	}
	s.Close()
	w.alive(t)
}

// Each stream counts against max_conns as a connection does: with room
// for the connection and two streams, a third is answered 503 with
// Retry-After, and served once one of the two has ended.
func TestH2StreamsCountAgainstMaxConns(t *testing.T) {
	w := newH2World(t, options{maxConns: 3})
	echo := echoTarget(t)
	cc := w.h2(t)
	var open []*h2Tunnel
	for range 2 {
		res, s := connectH2(t, cc, echo, nil)
		if res.StatusCode != 200 {
			t.Fatalf("CONNECT %d within the limit", res.StatusCode)
		}
		open = append(open, s)
	}
	res, _ := connectH2(t, cc, echo, nil)
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" ||
		!strings.HasPrefix(res.Header.Get("Proxy-Status"), "ferry; error=connection_limit_reached") {
		t.Fatalf("a stream over max_conns: %d %v", res.StatusCode, res.Header)
	}
	open[0].Close()
	// The slot comes back as the tunnel ends, before its record.
	for r := w.log.next(t); r.Status == 503; r = w.log.next(t) {
	}
	res, _ = connectH2(t, cc, echo, nil)
	if res.StatusCode != 200 {
		t.Errorf("CONNECT after a tunnel ended: %d", res.StatusCode)
	}
}
