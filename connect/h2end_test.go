package connect_test

import (
	"io"
	"net"
	"testing"
	"time"
)

// A tunnel on a stream ends with its HTTP/2 connection, even when nothing
// is left to notice it on the stream: the client ended its side
// (END_STREAM, passed on to the target as a FIN), the target stays silent
// with its side open, and then the client's connection goes away. The
// tunnel, its target conn and its max_conns slot must not outlive the
// connection until the idle timeout (here none).
func TestH2ConnectionEndEndsTunnels(t *testing.T) {
	w := newH2World(t, options{})
	gotEOF, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	target := rawServer(t, func(_ int, c net.Conn) {
		io.Copy(io.Discard, c) // until the client's END_STREAM, as a FIN
		close(gotEOF)
		<-release // silent, its side still open
	})
	cc := w.h2(t)
	res, s := connectH2(t, cc, target, nil)
	if res.StatusCode != 200 {
		t.Fatalf("CONNECT status %d", res.StatusCode)
	}
	s.up.Close() // END_STREAM
	select {
	case <-gotEOF:
	case <-time.After(bound):
		t.Fatal("the target never saw the client's end of the stream")
	}
	cc.Close()         // the client's connection goes
	r := w.log.next(t) // written when the tunnel ends
	if r.Status != 200 {
		t.Errorf("record status %d, want 200", r.Status)
	}
}
