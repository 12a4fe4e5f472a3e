package main

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// bulkBuf is the size of every bulk read and write: large enough that the
// per-call cost is small next to the copy.
const bulkBuf = 128 << 10

// origin is one loopback server of the tool. Active counts its open
// connections, so a test can wait for the previous one to wind down.
type origin struct {
	ln     *net.TCPListener
	active atomic.Int64
	wg     sync.WaitGroup
	serve  func(o *origin, c *net.TCPConn)
}

func listenOrigin(addr string, serve func(*origin, *net.TCPConn)) (*origin, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	o := &origin{ln: ln.(*net.TCPListener), serve: serve}
	o.wg.Add(1)
	go o.accept()
	return o, nil
}

func (o *origin) addr() netip.AddrPort { return o.ln.Addr().(*net.TCPAddr).AddrPort() }

func (o *origin) accept() {
	defer o.wg.Done()
	for {
		c, err := o.ln.AcceptTCP()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return // closed
		}
		o.active.Add(1)
		go func() {
			defer o.active.Add(-1)
			defer c.Close()
			o.serve(o, c)
		}()
	}
}

// close stops accepting; connections end with their peers.
func (o *origin) close() {
	o.ln.Close()
	o.wg.Wait()
}

// quiet waits (at most limit) until no connection of o is open.
func (o *origin) quiet(limit time.Duration) bool {
	return waitFor(limit, 10*time.Millisecond, func() bool { return o.active.Load() == 0 })
}

// waitFor polls cond every interval until it holds or limit passes.
func waitFor(limit, every time.Duration, cond func() bool) bool {
	end := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(every)
	}
	return true
}

// origins are all the servers a run needs.
type origins struct {
	sink, source, echo, hold, http *origin
	sunk                           atomic.Int64 // bytes the sink received
}

// startOrigins starts them all; the echo, sink and source listen on the
// addresses given (a plain TCP forwarder's fixed targets), "" for any.
func startOrigins(echoAddr, sinkAddr, sourceAddr string) (*origins, error) {
	o := &origins{}
	var err error
	start := func(addr string, f func(*origin, *net.TCPConn)) *origin {
		if err != nil {
			return nil
		}
		var s *origin
		s, err = listenOrigin(addr, f)
		return s
	}
	o.sink = start(sinkAddr, o.serveSink)
	o.source = start(sourceAddr, serveSource)
	o.echo = start(echoAddr, serveEcho)
	o.hold = start("", serveHold)
	o.http = start("", serveHTTP)
	if err != nil {
		o.close()
		return nil, err
	}
	return o, nil
}

func (o *origins) close() {
	for _, s := range []*origin{o.sink, o.source, o.echo, o.hold, o.http} {
		if s != nil {
			s.close()
		}
	}
}

// serveSink reads and discards until EOF, counting what it received: the
// upload figure is what arrived, not what the client managed to write.
func (o *origins) serveSink(_ *origin, c *net.TCPConn) {
	buf := make([]byte, bulkBuf)
	for {
		n, err := c.Read(buf)
		o.sunk.Add(int64(n))
		if err != nil {
			return
		}
	}
}

// sourceData is sent over and over; read-only, so shared by every conn.
var sourceData = make([]byte, bulkBuf)

// serveSource writes until the client goes away.
func serveSource(_ *origin, c *net.TCPConn) {
	for {
		if _, err := c.Write(sourceData); err != nil {
			return
		}
	}
}

// serveEcho echoes one byte and then closes: the origin closing first puts
// TIME_WAIT on the server side of each leg, so a fast setup loop does not
// run out of client ports (28k ephemeral ports reused only after 1 s).
func serveEcho(_ *origin, c *net.TCPConn) {
	var b [1]byte
	c.SetDeadline(time.Now().Add(dialTimeout))
	if _, err := c.Read(b[:]); err != nil {
		return
	}
	c.Write(b[:])
}

// serveHold keeps an idle tunnel's far end open until the client side
// closes, with the smallest buffer (the goroutine's stack is the cost).
func serveHold(_ *origin, c *net.TCPConn) {
	var b [16]byte
	for {
		if _, err := c.Read(b[:]); err != nil {
			return
		}
	}
}
