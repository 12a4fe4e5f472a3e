package connect

import (
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testnet"
)

func TestPeekHead(t *testing.T) {
	long := "CONNECT a:1 HTTP/1.1\r\nX: " + strings.Repeat("x", 10000) + "\r\n\r\n"
	tests := []struct {
		name   string
		writes []string
		limit  int
		scan   headScan
		n      int // head length for a complete head; bytes peeked for headIncomplete
		eof    bool
	}{
		{"one write", []string{"CONNECT a:1 HTTP/1.1\r\n\r\nrest"}, 4096, headConnect, 24, false},
		{"in pieces", []string{"CONN", "ECT a:1 HTTP/1.1\r\n", "\r\n"}, 4096, headConnect, 24, false},
		{"other method", []string{"GET / HTTP/1.1\r\n\r\n"}, 4096, headOther, 18, false},
		{"other method in pieces", []string{"GET / HT", "TP/1.1\r\n\r", "\nbody"}, 4096, headOther, 18, false},
		{"longer than the first buffer", []string{long}, 64 << 10, headConnect, len(long), false},
		{"no end within the limit", []string{long}, 4096, headIncomplete, 4096, false},
		{"EOF in the head", []string{"CONNECT a:1 HTTP/1.1\r\n"}, 4096, headIncomplete, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := testnet.TCPPair(t)
			server.SetReadDeadline(time.Now().Add(10 * time.Second))
			go func() {
				for _, w := range tt.writes {
					if _, err := io.WriteString(client, w); err != nil {
						return
					}
				}
				if tt.eof {
					client.CloseWrite()
				}
			}()
			b, scan, n, conn, err := peekHead(server, make([]byte, 1024), tt.limit)
			if tt.eof {
				if err != io.ErrUnexpectedEOF {
					t.Fatalf("err %v, want unexpected EOF", err)
				}
				return
			}
			if err != nil || scan != tt.scan {
				t.Fatalf("scan %d, %v; want %d", scan, err, tt.scan)
			}
			switch scan {
			case headConnect, headOther:
				if n != tt.n {
					t.Errorf("head length %d, want %d", n, tt.n)
				}
			case headIncomplete:
				if len(b) != tt.n {
					t.Errorf("peeked %d bytes, want %d", len(b), tt.n)
				}
			}
			// Nothing was taken from the conn to read from now on.
			want := strings.Join(tt.writes, "")
			got := make([]byte, len(want))
			if _, err := io.ReadFull(conn, got); err != nil || string(got) != want {
				t.Errorf("read after peek: %d bytes, %v", len(got), err)
			}
		})
	}
}

// The handshake deadline ends a wait for the rest of a head.
func TestPeekHeadDeadline(t *testing.T) {
	client, server := testnet.TCPPair(t)
	io.WriteString(client, "CONNECT a:1 HTTP/1.1\r\n")
	server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, _, _, err := peekHead(server, make([]byte, 1024), 4096); !os.IsTimeout(err) {
		t.Fatalf("err %v, want a timeout", err)
	}
}
