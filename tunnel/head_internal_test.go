package tunnel

import (
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testnet"
)

// readHead takes an upstream's answer head and nothing after it, whether
// the conn is a TCP socket (peeked in place on Linux, so still the
// *net.TCPConn) or not (a pipe here, TLS in use: read ahead and
// replayed); an answer cut short by a close is reported at once, not at
// the dial deadline.
func TestReadHead(t *testing.T) {
	big := "HTTP/1.1 200 OK\r\nX-Pad: " + strings.Repeat("a", maxConnectHead) + "\r\n\r\n"
	tests := []struct {
		name  string
		in    string
		close bool
		head  string
		err   error
	}{
		{"head then data", "HTTP/1.1 200 OK\r\n\r\nbanner", false, "HTTP/1.1 200 OK\r\n\r\n", nil},
		{"bare LF lines", "HTTP/1.1 200 OK\nVia: x\n\nbanner", false, "HTTP/1.1 200 OK\nVia: x\n\n", nil},
		{"too big", big, false, "", errHeadTooBig},
		{"cut short", "HTTP/1.1 200 OK\r\nVia", true, "", io.ErrUnexpectedEOF},
		{"closed at once", "", true, "", io.EOF},
	}
	for _, kind := range []string{"tcp", "pipe"} {
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				w, closeWrite, c := connPair(t, kind)
				go func() {
					io.WriteString(w, tt.in)
					if tt.close {
						closeWrite()
					}
				}()
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				head, rest, err := readHead(c, maxConnectHead)
				if tt.err != nil {
					if !errors.Is(err, tt.err) {
						t.Fatalf("err %v, want %v", err, tt.err)
					}
					return
				}
				if err != nil || string(head) != tt.head {
					t.Fatalf("head %q, %v; want %q", head, err, tt.head)
				}
				if runtime.GOOS == "linux" && kind == "tcp" && rest != c {
					t.Errorf("readHead returned %T, want the *net.TCPConn itself", rest)
				}
				after := make([]byte, len("banner"))
				if _, err := io.ReadFull(rest, after); err != nil || string(after) != "banner" {
					t.Errorf("after the head: %q, %v; want banner", after, err)
				}
			})
		}
	}
}

// connPair connects a writer to a conn to read from: a loopback TCP
// connection or a pipe.
func connPair(t *testing.T, kind string) (w io.Writer, closeWrite func(), r net.Conn) {
	t.Helper()
	if kind == "pipe" {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, func() { a.Close() }, b
	}
	a, b := testnet.TCPPair(t)
	return a, func() { a.CloseWrite() }, b
}
