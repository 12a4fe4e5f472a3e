package connect_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
)

// RFC 9110 §10.1.1: the client gets exactly one 100 Continue, then the
// final response, and its body reaches the origin.
func TestForwardExpectContinue(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "got %s", b)
	})
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "PUT "+o.URL+"/x HTTP/1.1\r\nHost: "+o.host+"\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	resp, _ := c.response(t, "PUT")
	if resp.StatusCode != http.StatusContinue {
		t.Fatalf("first response %d, want 100 before the body is sent", resp.StatusCode)
	}
	c.send(t, "hello")
	resp, body := c.response(t, "PUT")
	if resp.StatusCode != 200 || body != "got hello" {
		t.Fatalf("after the body: %d %q, want 200 \"got hello\" (a second 100 is a bug)", resp.StatusCode, body)
	}
	// Nothing more may follow on the conn: a stray response would be read
	// as the answer to the next request.
	c.send(t, "GET "+o.URL+"/next HTTP/1.1\r\nHost: "+o.host+"\r\n\r\n")
	if resp, body := c.response(t, "GET"); resp.StatusCode != 200 || body != "got " {
		t.Errorf("next request on the conn got %d %q", resp.StatusCode, body)
	}
}

// An origin that answers while it still reads the upload (full duplex, as
// streaming APIs do) gets each request line and echoes it before the
// client sends the next: ferry neither holds the response head until the
// request body ends nor consumes that body itself.
func TestForwardFullDuplex(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).EnableFullDuplex()
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		br := bufio.NewReader(r.Body)
		for range 100 {
			line, err := br.ReadString('\n')
			if line != "" {
				io.WriteString(w, "echo "+line)
				w.(http.Flusher).Flush()
			}
			if err != nil {
				return
			}
		}
	})
	w := newWorld(t, options{})
	c := w.raw(t)
	c.send(t, "POST "+o.URL+"/ HTTP/1.1\r\nHost: "+o.host+"\r\nTransfer-Encoding: chunked\r\n\r\n")
	var br *bufio.Reader
	for i, line := range []string{"one\n", "two\n", "three\n"} {
		c.send(t, fmt.Sprintf("%x\r\n%s\r\n", len(line), line))
		if i == 0 {
			resp, err := http.ReadResponse(c.br, &http.Request{Method: "POST"})
			if err != nil {
				t.Fatalf("no response head while the request body is open: %v", err)
			}
			br = bufio.NewReader(resp.Body)
		}
		if got, err := br.ReadString('\n'); got != "echo "+line {
			t.Fatalf("line %d: got %q, %v; want %q", i, got, err, "echo "+line)
		}
	}
	c.send(t, "0\r\n\r\n")
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after the last chunk: %q, %v", rest, err)
	}
}

// A request with a body that ferry answers itself (here 502: the origin
// refuses) leaves the connection usable: the answer is complete (it has
// a length), the body is read and dropped, and the next request on the
// same connection is served. net/http left to itself panicked on such a
// body (golang/go#68560) and dropped the connection.
func TestRefusedBodyKeepsConnection(t *testing.T) {
	w := newWorld(t, options{})
	o := newOrigin(t, func(rw http.ResponseWriter, r *http.Request) { io.WriteString(rw, "second") })
	refused := closedAddr(t)
	c := w.raw(t)
	c.send(t, "POST http://"+refused+"/x HTTP/1.1\r\nHost: "+refused+"\r\nContent-Length: 5\r\n\r\nhello")
	resp, body := c.response(t, "POST")
	if resp.StatusCode != http.StatusBadGateway || resp.ContentLength != int64(len(body)) || resp.Close {
		t.Fatalf("refusal: %d, length %d for %d bytes, close %v; want 502 with its length, kept open",
			resp.StatusCode, resp.ContentLength, len(body), resp.Close)
	}
	c.send(t, "GET "+o.URL+"/y HTTP/1.1\r\nHost: "+o.host+"\r\n\r\n")
	resp, body = c.response(t, "GET")
	if resp.StatusCode != http.StatusOK || body != "second" {
		t.Fatalf("next request on the connection: %d %q, want 200 %q", resp.StatusCode, body, "second")
	}
}

// A client that waits for 100 Continue is not asked for a body ferry will
// not forward: it gets the refusal, and the connection ends after it.
func TestRefusedExpectContinueNotInvited(t *testing.T) {
	w := newWorld(t, options{})
	refused := closedAddr(t)
	c := w.raw(t)
	c.send(t, "POST http://"+refused+"/x HTTP/1.1\r\nHost: "+refused+"\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	resp, _ := c.response(t, "POST")
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("got %d, want the 502 and no 100 Continue first", resp.StatusCode)
	}
	if b, err := c.br.ReadByte(); err != io.EOF {
		t.Fatalf("after the refusal: byte %q, %v; want the connection closed", b, err)
	}
}

// A response body that stops coming (the origin stalls mid-body) ends
// after the idle timeout, as an idle tunnel does: the client's connection
// is cut (the body is short), the event says idle timeout. Both ferry's
// own origin client (GET) and the transport (POST) are bounded.
func TestForwardIdleResponseBody(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	stall := rawServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
		<-release // 90 bytes owed, never sent; the connection stays open
	})
	w := newWorld(t, options{engine: tunnel.Config{IdleTimeout: 200 * time.Millisecond}})
	for _, head := range []string{
		"GET http://" + stall + "/ HTTP/1.1\r\nHost: " + stall + "\r\n\r\n",
		"POST http://" + stall + "/ HTTP/1.1\r\nHost: " + stall + "\r\nContent-Length: 2\r\n\r\nhi",
	} {
		c := w.raw(t)
		c.send(t, head)
		// What reached the client (the head and 10 bytes may still sit in
		// ferry's buffer) matters less than that the connection ends, and
		// long before the test's bound.
		got, err := io.ReadAll(c.br)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %v; got %q", bound, got)
		}
		if r := w.log.next(t); !errors.Is(r.Err, tunnel.ErrIdle) {
			t.Fatalf("record err %v, want the idle timeout", r.Err)
		}
	}
}

// A client that stops sending its request body is answered 408 after the
// idle timeout, and the origin's side ends too, where the request stayed
// open for as long as the client did.
func TestForwardIdleRequestBody(t *testing.T) {
	gotBody := make(chan []byte, 1)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody <- b
	})
	w := newWorld(t, options{engine: tunnel.Config{IdleTimeout: 200 * time.Millisecond}})
	c := w.raw(t)
	c.send(t, "POST "+o.URL+"/up HTTP/1.1\r\nHost: "+o.host+"\r\nContent-Length: 1000\r\n\r\nabc")
	resp, body := c.response(t, "POST")
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, "idle_timeout") {
		t.Fatalf("got %d %q, want 408 naming idle_timeout", resp.StatusCode, body)
	}
	if r := w.log.next(t); r.Status != http.StatusRequestTimeout {
		t.Fatalf("record status %d, want 408", r.Status)
	}
	select {
	case b := <-gotBody:
		if len(b) == 1000 {
			t.Fatalf("the origin got a whole body: %q", b)
		}
	case <-time.After(bound):
		t.Fatal("the origin's request did not end")
	}
}

// An origin that answers an upload before reading it (413, say) and then
// closes: the client, still sending, must read that answer, not a reset.
// The answer says Connection: close, and ferry drains the rest of the
// body before it closes (a close with unread bytes sends a reset, which
// can destroy the answer in the client's buffer).
func TestForwardEarlyAnswerReachesUploader(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	o := rawServer(t, func(_ int, c net.Conn) {
		http.ReadRequest(bufio.NewReader(c)) // the head only
		io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope")
		<-release // reads no more: the upload cannot finish
	})
	w := newWorld(t, options{})
	body := make([]byte, 8<<20)
	for i := range 5 {
		c := w.raw(t)
		go func() {
			io.WriteString(c, fmt.Sprintf("PUT http://%s/up HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", o, o, len(body)))
			c.Write(body) // until done, or the conn is closed
		}()
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatalf("upload %d: %v, want the origin's 413", i, err)
		}
		got, err := io.ReadAll(resp.Body)
		if resp.StatusCode != 413 || string(got) != "nope" || err != nil || !resp.Close {
			t.Fatalf("upload %d: %d %q %v, close %v; want 413 \"nope\" and Connection: close", i, resp.StatusCode, got, err, resp.Close)
		}
		c.Close()
	}
}
