package netx

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testnet"
)

// A Conn replays what was read ahead, then reads the conn under it, and
// passes a half-close on to it.
func TestConnReplaysThenReads(t *testing.T) {
	client, server := testnet.TCPPair(t)
	server.SetReadDeadline(time.Now().Add(bound))
	c := &Conn{Conn: server, Peeked: []byte("ahead ")}
	go func() {
		io.WriteString(client, "behind")
		client.CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "ahead behind" {
		t.Fatalf("read %q, %v; want %q", got, err, "ahead behind")
	}
	if c.Peeked != nil {
		t.Errorf("Peeked = %q after replay, want nil (the buffer let go)", c.Peeked)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	client.SetReadDeadline(time.Now().Add(bound))
	if n, err := client.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("client read %d, %v after CloseWrite; want EOF", n, err)
	}
}

// A conn that cannot half-close (a pipe) makes CloseWrite a no-op.
func TestConnCloseWriteWithoutHalfClose(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := (&Conn{Conn: b}).CloseWrite(); err != nil {
		t.Errorf("CloseWrite on a pipe = %v, want nil", err)
	}
}
