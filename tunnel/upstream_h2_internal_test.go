package tunnel

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// A connection whose dial was under way when a reload retired its pool
// is not pooled there (nobody would take a stream from it again, and it
// would idle for h2IdleConn): it carries the stream its dialer reserved
// and closes after it. A request still holding the retired pool gets a
// connection of its own, which closes the same way.
func TestH2DialDuringRetireNotPooled(t *testing.T) {
	for _, name := range []string{"dial under way", "dial after"} {
		t.Run(name, func(t *testing.T) {
			p := &h2Pool{max: 1}
			if name == "dial after" {
				p.retire()
			}
			if pc, dial, _ := p.take(); pc != nil || !dial {
				t.Fatalf("take: conn %v dial %v, want to dial", pc, dial)
			}
			if name == "dial under way" {
				p.retire()
			}
			pc, served := h2ParentOverPipe(t)
			if !p.dialed(pc, false, nil) {
				t.Fatal("dialed: no stream reserved on the new connection")
			}
			p.mu.Lock()
			pooled := len(p.conns)
			p.mu.Unlock()
			if pooled != 0 {
				t.Fatalf("%d connections pooled in a retired pool, want 0", pooled)
			}
			res, err := pc.cc.RoundTrip(&http.Request{Method: http.MethodGet, URL: &url.URL{Scheme: "http", Host: "parent", Path: "/"}, Header: http.Header{}})
			pc.started()
			if err != nil {
				t.Fatalf("the dialer's stream: %v", err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(body) != "ok" {
				t.Fatalf("body %q, want ok", body)
			}
			select {
			case <-served:
			case <-time.After(10 * time.Second):
				t.Fatal("the connection stayed open after its one stream: it would idle until h2IdleConn")
			}
		})
	}
}

// A stream reserved on a pooled connection when the pool is retired is
// still sent (x/net's Shutdown alone would close the connection under
// it, as it waits only for streams already sent), and the connection
// closes after it.
func TestH2RetireWaitsForReservedStream(t *testing.T) {
	p := &h2Pool{max: 1}
	pc, served := h2ParentOverPipe(t)
	if p.take(); !p.dialed(pc, false, nil) {
		t.Fatal("dialed: no stream reserved on the new connection")
	}
	pc.started() // the dialer's stream, as if sent
	got, dial, _ := p.take()
	if got != pc || dial {
		t.Fatalf("take: conn %v dial %v, want the pooled connection", got, dial)
	}
	p.retire()
	res, err := pc.cc.RoundTrip(&http.Request{Method: http.MethodGet, URL: &url.URL{Scheme: "http", Host: "parent", Path: "/"}, Header: http.Header{}})
	pc.started()
	if err != nil {
		t.Fatalf("the stream reserved before the retire: %v", err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("the retired connection stayed open after its last stream")
	}
}

// h2ParentOverPipe is a client connection to an HTTP/2 server answering
// "ok", over a pipe; served closes when the server is done with it.
func h2ParentOverPipe(t *testing.T) (*h2Parent, <-chan struct{}) {
	t.Helper()
	server, client := net.Pipe()
	served := make(chan struct{})
	go func() {
		defer close(served)
		(&http2.Server{}).ServeConn(server, &http2.ServeConnOpts{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok")
		})})
		server.Close()
	}()
	cc, err := (&http2.Transport{AllowHTTP: true}).NewClientConn(client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cc.Close()
		<-served
	})
	return &h2Parent{cc: cc}, served
}

// A stream refused on a working connection (REFUSED_STREAM) is asked
// again without closing the connection, which carries other tunnels; a
// connection going away is dropped before the retry.
func TestH2RefusedStreamKeepsWorkingConn(t *testing.T) {
	p := &h2Pool{max: 1}
	pc, served := h2ParentOverPipe(t)
	if p.take(); !p.dialed(pc, false, nil) {
		t.Fatal("dialed: no stream reserved on the new connection")
	}
	pc.started()
	p.dropIfGone(pc)
	p.mu.Lock()
	pooled := len(p.conns)
	p.mu.Unlock()
	if pooled != 1 || pc.cc.State().Closed {
		t.Fatalf("a working connection was dropped (pooled %d, closed %v): its other tunnels would be cut", pooled, pc.cc.State().Closed)
	}
	pc.cc.Close()
	<-served
	p.dropIfGone(pc)
	p.mu.Lock()
	pooled = len(p.conns)
	p.mu.Unlock()
	if pooled != 0 {
		t.Fatal("a closed connection stayed in the pool")
	}
}
