package forward

import (
	"net"
	"testing"
	"time"
)

// A conn comes out of the pool usable whatever deadlines its last
// exchange left on it: the idle bounds of a request and response body
// are in the past by the time the next request takes the conn.
func TestPooledConnDeadlinesCleared(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	peer := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(peer)
			return
		}
		peer <- c
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	origin, ok := <-peer
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { origin.Close() })

	p := &pool{maxIdle: 4, maxIdlePerKey: 4}
	t.Cleanup(func() { p.closeIdle(true) })
	c := newConn(nc, "origin:80")
	c.nc.SetDeadline(time.Unix(1, 0)) // what an exchange's idle bounds become once past
	p.put(c)
	got := p.get("origin:80")
	if got != c {
		t.Fatalf("get = %v, want the pooled conn", got)
	}
	if _, err := got.nc.Write([]byte("x")); err != nil {
		t.Fatalf("write on the reused conn: %v", err)
	}
	origin.Write([]byte("y"))
	b := make([]byte, 1)
	if _, err := got.nc.Read(b); err != nil {
		t.Fatalf("read on the reused conn: %v", err)
	}
}
