package forward

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
)

// A body kept whole replays from its start, then reads on; one past
// maxReplay, or one whose client failed, does not replay.
func TestSentBodyRewind(t *testing.T) {
	b := &sentBody{Reader: strings.NewReader("hello world")}
	p := make([]byte, 5)
	io.ReadFull(b, p)
	if !b.rewind() {
		t.Fatal("a short body did not rewind")
	}
	if got, _ := io.ReadAll(b); string(got) != "hello world" {
		t.Fatalf("after rewind: %q", got)
	}
	big := &sentBody{Reader: strings.NewReader(strings.Repeat("x", maxReplay+1))}
	io.ReadAll(big)
	if big.rewind() {
		t.Fatal("a body past maxReplay rewound")
	}
}

func TestReplayable(t *testing.T) {
	for _, tt := range []struct {
		method string
		key    bool
		want   bool
	}{
		{"GET", false, true}, {"HEAD", false, true}, {"PUT", false, true}, {"DELETE", false, true},
		{"POST", false, false}, {"PATCH", false, false}, {"POST", true, true},
	} {
		r := &http.Request{Method: tt.method, Header: http.Header{}}
		if tt.key {
			r.Header.Set("Idempotency-Key", "k")
		}
		if got := replayable(r); got != tt.want {
			t.Errorf("replayable(%s, key %v) = %v", tt.method, tt.key, got)
		}
	}
}

// FuzzReadResponse: any response head is read without panic; one read
// has a 3-digit status and a framing the client side can carry out.
func FuzzReadResponse(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "GET")
	f.Add("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET")
	f.Add("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", "HEAD")
	f.Fuzz(func(t *testing.T, in, method string) {
		x := &exchange{c: &conn{br: bufio.NewReader(io.LimitReader(strings.NewReader(in), 1<<16))},
			r: &http.Request{Method: method}}
		res, fr, err := x.readResponse()
		if err != nil {
			return
		}
		if res.StatusCode < 100 || res.StatusCode > 999 {
			t.Fatalf("status %d", res.StatusCode)
		}
		if fr.Chunked && fr.UntilClose {
			t.Fatalf("framing %+v", fr)
		}
	})
}

// headerLog is a ResponseWriter that keeps a copy of the header map each
// WriteHeader sent.
type headerLog struct {
	h    http.Header
	sent []http.Header
}

func (w *headerLog) Header() http.Header         { return w.h }
func (w *headerLog) Write(p []byte) (int, error) { return len(p), nil }
func (w *headerLog) WriteHeader(code int)        { w.sent = append(w.sent, w.h.Clone()) }

// An interim response (RFC 9110 §15.2) goes out with its own fields only,
// without its hop-by-hop ones, with ferry's Via (§7.6.3), and leaves the
// fields ferry had already set for the final response in place (a
// Connection: close, which on HTTP/2 is what makes the server send GOAWAY).
func TestInterimKeepsFinalFields(t *testing.T) {
	w := &headerLog{h: http.Header{"Connection": {"close"}}}
	f := &Forwarder{cfg: Config{HTTP: HTTP{ViaName: "ferry"}}, via11: "1.1 ferry"}
	x := &response{w: w, via: f.via}
	x.got1xx(http.StatusEarlyHints, 1, 1, map[string][]string{"Link": {"</a.css>; rel=preload"}, "Connection": {"x"}})
	if len(w.sent) != 1 {
		t.Fatalf("%d heads written, want 1", len(w.sent))
	}
	if got := w.sent[0]; got.Get("Link") == "" || got.Get("Connection") != "" || got.Get("Via") != "1.1 ferry" {
		t.Errorf("103 sent with %q, want its Link, Via: 1.1 ferry and no Connection", got)
	}
	if got := w.h; got.Get("Connection") != "close" || got.Get("Link") != "" {
		t.Errorf("after the 103 the final response's fields are %q, want Connection: close and no Link", got)
	}
}
