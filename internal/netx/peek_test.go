package netx

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testnet"
)

// pair is a way to connect a writer to a conn to peek: a TCP socket
// (peeked in place on Linux) or a pipe (read ahead into a Conn).
type pair struct {
	name string
	open func(t *testing.T) (w io.Writer, closeWrite func(), r net.Conn)
}

var pairs = []pair{
	{"tcp", func(t *testing.T) (io.Writer, func(), net.Conn) {
		c, s := testnet.TCPPair(t)
		s.SetReadDeadline(time.Now().Add(bound))
		return c, func() { c.CloseWrite() }, s
	}},
	{"pipe", func(t *testing.T) (io.Writer, func(), net.Conn) {
		c, s := net.Pipe()
		t.Cleanup(func() { c.Close(); s.Close() })
		s.SetReadDeadline(time.Now().Add(bound))
		return c, func() { c.Close() }, s
	}},
}

func hasBlankLine(b []byte) bool { return bytes.Contains(b, []byte("\r\n\r\n")) }

func TestPeek(t *testing.T) {
	long := "HEAD " + strings.Repeat("x", 10000) + "\r\n\r\n"
	tests := []struct {
		name   string
		writes []string
		limit  int
		enough func([]byte) bool
		close  bool   // the writer closes after its writes
		want   string // what Peek returns
		err    error
	}{
		{"any byte", []string{"hello"}, 512, nil, false, "hello", nil},
		{"until enough", []string{"GET / HT", "TP/1.1\r\n", "\r\nbody"}, 4096, hasBlankLine, false, "GET / HTTP/1.1\r\n\r\nbody", nil},
		{"past the first buffer", []string{long}, 64 << 10, hasBlankLine, false, long, nil},
		{"limit reached", []string{long}, 4096, hasBlankLine, false, long[:4096], nil},
		{"closed before a byte", nil, 512, nil, true, "", io.EOF},
		{"closed part way", []string{"GET / HTTP/1.1\r\n"}, 4096, hasBlankLine, true, "GET / HTTP/1.1\r\n", io.ErrUnexpectedEOF},
	}
	for _, p := range pairs {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				w, closeWrite, c := p.open(t)
				go func() {
					for _, s := range tt.writes {
						if _, err := io.WriteString(w, s); err != nil {
							return
						}
					}
					if tt.close {
						closeWrite()
					}
				}()
				b, conn, err := Peek(c, make([]byte, 1024), tt.limit, tt.enough)
				if !errors.Is(err, tt.err) || err == nil && tt.err != nil {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				// Peek may return as soon as enough holds: a prefix of
				// what came, the whole of it on an error.
				switch {
				case !strings.HasPrefix(tt.want, string(b)), tt.err != nil && string(b) != tt.want:
					t.Fatalf("Peek = %q, want %q", b, tt.want)
				case tt.err == nil && len(b) != tt.limit && !enoughOf(b, tt.enough):
					t.Fatalf("Peek returned %q before enough held", b)
				case tt.name == "limit reached" && len(b) != tt.limit:
					t.Fatalf("Peek returned %d bytes, want the limit %d", len(b), tt.limit)
				}
				if runtime.GOOS == "linux" && p.name == "tcp" && conn != c {
					t.Errorf("Peek returned %T, want the *net.TCPConn itself (peeked in place)", conn)
				}
				if tt.err != nil {
					return
				}
				// Nothing was taken: the conn returned yields it all.
				want := strings.Join(tt.writes, "")
				got := make([]byte, len(want))
				if _, err := io.ReadFull(conn, got); err != nil || string(got) != want {
					t.Errorf("read after the peek: %q, %v; want %q", got, err, want)
				}
			})
		}
	}
}

func enoughOf(b []byte, enough func([]byte) bool) bool {
	return len(b) > 0 && (enough == nil || enough(b))
}

// The read deadline ends a wait for more, with what had come.
func TestPeekDeadline(t *testing.T) {
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			w, _, c := p.open(t)
			go io.WriteString(w, "GET / HTTP/1.1\r\n")
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			b, _, err := Peek(c, make([]byte, 1024), 4096, hasBlankLine)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("err %v, want a timeout", err)
			}
			if string(b) != "GET / HTTP/1.1\r\n" {
				t.Errorf("Peek = %q, want what had come", b)
			}
		})
	}
}

// Peeking a Conn again reads on into the same Conn, not a second wrapper,
// and a later, longer peek sees what the first one read ahead.
func TestPeekConnAgain(t *testing.T) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	b.SetReadDeadline(time.Now().Add(bound))
	go func() {
		io.WriteString(a, "ab")
		io.WriteString(a, "cdef")
	}()
	first, c1, err := Peek(b, nil, 512, nil)
	if err != nil || !strings.HasPrefix("abcdef", string(first)) {
		t.Fatalf("first peek %q, %v", first, err)
	}
	atLeast4 := func(b []byte) bool { return len(b) >= 4 }
	got, c2, err := Peek(c1, nil, 512, atLeast4)
	if err != nil || !strings.HasPrefix(string(got), "abcd") {
		t.Fatalf("second peek %q, %v; want abcd...", got, err)
	}
	if c2 != c1 {
		t.Errorf("peeking a *Conn wrapped it again (%T in %T)", c1, c2)
	}
	all := make([]byte, 6)
	if _, err := io.ReadFull(c2, all); err != nil || string(all) != "abcdef" {
		t.Errorf("read %q, %v; want abcdef", all, err)
	}
}
