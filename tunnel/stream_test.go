package tunnel_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
)

// pipeStream is a Stream that is no socket, as an HTTP/2 stream is not:
// the relay reads what the test writes into in and writes to out.
type pipeStream struct {
	in  *io.PipeReader
	out *io.PipeWriter
}

func (p pipeStream) Read(b []byte) (int, error)       { return p.in.Read(b) }
func (p pipeStream) Write(b []byte) (int, error)      { return p.out.Write(b) }
func (p pipeStream) Close() error                     { p.in.Close(); return p.out.Close() }
func (p pipeStream) CloseWrite() error                { return p.out.Close() }
func (p pipeStream) SetReadDeadline(time.Time) error  { return nil }
func (p pipeStream) SetWriteDeadline(time.Time) error { return nil }

// The relay carries a stream that is not a net.Conn to a TCP conn: bytes
// both ways, and the stream's half-close passed on as the TCP FIN.
func TestRelayNonSocketStream(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	stream := pipeStream{in: inR, out: outW}
	server, err := net.Dial("tcp", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan tunnel.Stats, 1)
	tunnel.Start(context.Background(), stream, server, time.Minute, func(st tunnel.Stats, err error) {
		if err != nil {
			t.Errorf("relay: %v", err)
		}
		done <- st
	})
	if _, err := inW.Write([]byte("over a stream")); err != nil {
		t.Fatal(err)
	}
	inW.Close() // the client's half-close: the echo server sees EOF and closes
	got, err := io.ReadAll(outR)
	if err != nil || string(got) != "over a stream" {
		t.Fatalf("echoed %q, %v", got, err)
	}
	select {
	case st := <-done:
		if st.Up != 13 || st.Down != 13 {
			t.Errorf("stats %+v, want 13 each way", st)
		}
	case <-time.After(bound):
		t.Fatal("the relay did not end")
	}
}
