package netx

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testnet"
)

// refuse is a server that answers without reading what the client sent,
// then ends the conn with end.
func refuse(t *testing.T, end func(net.Conn)) (client *net.TCPConn, done <-chan struct{}) {
	t.Helper()
	client, server := testnet.TCPPair(t)
	server.SetReadDeadline(time.Now().Add(bound))
	if _, err := io.WriteString(client, "a request the server never reads"); err != nil {
		t.Fatal(err)
	}
	// Wait until the request is queued at the server, unread.
	if _, _, err := Peek(server, nil, 512, nil); err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		io.WriteString(server, "refused\n")
		end(server)
	}()
	return client, ch
}

// A refusal ended by LingerClose reaches the client whole, then a clean
// EOF (a FIN): the unread request does not turn the close into a reset.
// Closing at once instead is the failure it prevents.
func TestLingerCloseSendsFIN(t *testing.T) {
	client, done := refuse(t, LingerClose)
	client.SetReadDeadline(time.Now().Add(bound))
	got, err := io.ReadAll(client)
	if err != nil || string(got) != "refused\n" {
		t.Fatalf("client read %q, %v; want the refusal, then EOF", got, err)
	}
	client.Close() // the client is done: the linger ends at once
	<-done
}

// The control: a plain Close with the request unread resets the conn.
func TestCloseWithUnreadInputResets(t *testing.T) {
	client, done := refuse(t, func(c net.Conn) { c.Close() })
	<-done
	client.SetReadDeadline(time.Now().Add(bound))
	if _, err := io.ReadAll(client); err == nil {
		t.Skip("this kernel did not reset the conn: LingerClose's case is not shown here")
	}
}

// A client that neither closes nor stops sending holds LingerClose no
// longer than its bound: LingerBytes, then the close (its writes fail).
func TestLingerCloseBounded(t *testing.T) {
	client, server := testnet.TCPPair(t)
	stop := make(chan struct{})
	wrote := make(chan error, 1)
	go func() {
		buf := make([]byte, 32<<10)
		for {
			select {
			case <-stop:
				wrote <- nil
				return
			default:
			}
			client.SetWriteDeadline(time.Now().Add(bound))
			if _, err := client.Write(buf); err != nil {
				wrote <- err
				return
			}
		}
	}()
	lingerReturns(t, server)
	close(stop)
	<-wrote
}

// A silent client that keeps the conn open holds LingerClose for
// LingerTime at most.
func TestLingerCloseSilentClient(t *testing.T) {
	_, server := testnet.TCPPair(t)
	lingerReturns(t, server)
}

// lingerReturns runs LingerClose on c, with no deadline of c's own, and
// fails the test if it is still lingering after the test's bound.
func lingerReturns(t *testing.T, c net.Conn) {
	t.Helper()
	done := make(chan struct{})
	go func() { LingerClose(c); close(done) }()
	select {
	case <-done:
	case <-time.After(bound):
		t.Fatal("LingerClose did not return within its bound")
	}
}
