package netx

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testnet"
)

// Quiet tells an idle conn from one whose peer sent a byte or a FIN,
// whatever the conn's read deadline says, under a TLS wrapping too.
func TestQuiet(t *testing.T) {
	a, b := testnet.TCPPair(t)
	a.SetReadDeadline(time.Unix(1, 0)) // a deadline in the past must not make it look quiet
	if !Quiet(a) {
		t.Fatal("an idle conn is not quiet")
	}
	if !Quiet(tls.Client(a, &tls.Config{})) {
		t.Fatal("an idle conn under TLS is not quiet")
	}
	b.Write([]byte("x"))
	waitQueued(t, a)
	if Quiet(a) || Quiet(tls.Client(a, &tls.Config{})) {
		t.Fatal("a conn with a byte queued is quiet")
	}
	c, d := testnet.TCPPair(t)
	d.Close()
	waitQueued(t, c)
	if Quiet(c) {
		t.Fatal("a conn whose peer closed is quiet")
	}
}

// waitQueued waits, under a deadline, until c's socket has something
// queued (a byte or a FIN): a peek that waits.
func waitQueued(t *testing.T, c *net.TCPConn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	if _, _, err := Peek(c, make([]byte, 1), 1, func([]byte) bool { return true }); err != nil && err.Error() != "EOF" {
		t.Fatal(err)
	}
}
