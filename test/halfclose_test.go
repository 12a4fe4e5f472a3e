package test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
)

// TestHalfClose checks that a tunnel passes a half-close on in both
// directions (TCP FIN as CloseWrite) and keeps the other direction open.
func TestHalfClose(t *testing.T) {
	f := startFerry(t, minimalConfig)
	payload := bytes.Repeat([]byte("half-close "), 10000)

	// The origin reads to EOF, then answers with what it counted.
	counter := tcpOrigin(t, func(c *net.TCPConn) {
		n, _ := io.Copy(io.Discard, c)
		fmt.Fprintf(c, "got %d bytes", n)
		c.CloseWrite()
	})
	// The origin says hello and shuts its side, then reads to EOF.
	received := make(chan int64, 1)
	greeter := tcpOrigin(t, func(c *net.TCPConn) {
		io.WriteString(c, "hello")
		c.CloseWrite()
		n, _ := io.Copy(io.Discard, c)
		received <- n
	})

	for _, k := range tunnelKinds {
		t.Run(k.name+"/client shuts write, still reads", func(t *testing.T) {
			c := k.open(t, f.Addr, counter)
			if _, err := c.Write(payload); err != nil {
				t.Fatal(err)
			}
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(c)
			if want := "got " + strconv.Itoa(len(payload)) + " bytes"; err != nil || string(got) != want {
				t.Fatalf("read %q, %v; want %q", got, err, want)
			}
			ev := f.WaitEvent("access", func(e Event) bool { return e.Str("client") == c.LocalAddr().String() })
			if ev.Str("proto") != k.name || ev.Int("bytes_up") != int64(len(payload)) || ev.Int("bytes_down") != int64(len(got)) || ev.Str("err") != "" {
				t.Errorf("access event %v, want proto %s, bytes %d up %d down, no err", ev, k.name, len(payload), len(got))
			}
		})
		t.Run(k.name+"/origin shuts write, still reads", func(t *testing.T) {
			c := k.open(t, f.Addr, greeter)
			got, err := io.ReadAll(c)
			if err != nil || string(got) != "hello" {
				t.Fatalf("read %q, %v; want hello then EOF", got, err)
			}
			if _, err := c.Write(payload); err != nil {
				t.Fatalf("write after the origin's half-close: %v", err)
			}
			c.CloseWrite()
			if n := recv(t, received); n != int64(len(payload)) {
				t.Errorf("origin received %d bytes after its half-close, want %d", n, len(payload))
			}
		})
	}
}
