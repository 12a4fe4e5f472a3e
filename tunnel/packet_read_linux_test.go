package tunnel

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

func udpPair(t *testing.T, network, ip string) (recv, send *net.UDPConn) {
	t.Helper()
	recv, err := net.ListenUDP(network, &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Skipf("no %s socket on %s: %v", network, ip, err)
	}
	t.Cleanup(func() { recv.Close() })
	send, err = net.DialUDP(network, nil, recv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { send.Close() })
	return recv, send
}

// A read that has to wait gives its buffer back first; one that finds a
// datagram reads it with its source, and allocates nothing.
func TestUDPReader(t *testing.T) {
	for _, tt := range []struct{ network, ip string }{{"udp4", "127.0.0.1"}, {"udp6", "::1"}, {"udp", "127.0.0.1"}} {
		t.Run(tt.network, func(t *testing.T) {
			recv, send := udpPair(t, tt.network, tt.ip)
			r := NewUDPReader(recv)
			var b PacketBuf
			defer b.Release()
			waited := make(chan bool, 1)
			udpWaitHook = func(b *PacketBuf) {
				select {
				case waited <- b.p == nil:
				default:
				}
			}
			defer func() { udpWaitHook = nil }()
			type result struct {
				n    int
				from netip.AddrPort
				err  error
			}
			done := make(chan result, 1)
			go func() {
				n, from, err := r.Read(&b)
				done <- result{n, from, err}
			}()
			if held := !<-waited; held {
				t.Fatal("the read waits holding its buffer")
			}
			send.Write([]byte("datagram"))
			res := <-done
			want, _ := netip.ParseAddrPort(send.LocalAddr().String())
			want = netip.AddrPortFrom(want.Addr().Unmap(), want.Port())
			if res.err != nil || res.n != 8 || string(b.Bytes()[PacketHeadroom:PacketHeadroom+8]) != "datagram" || res.from != want {
				t.Fatalf("read %d %v %v, %q; want 8 bytes from %v", res.n, res.from, res.err, b.Bytes()[PacketHeadroom:PacketHeadroom+res.n], want)
			}
			udpWaitHook = nil
			x := []byte("x")
			allocs := testing.AllocsPerRun(100, func() {
				send.Write(x)
				if _, _, err := r.Read(&b); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per datagram read, want 0", allocs)
			}
			// Datagrams waiting together are read in one call and handed
			// out in order, each with its own buffer.
			for i := range 40 {
				send.Write([]byte{byte(i)})
			}
			for i := range 40 {
				n, from, err := r.Read(&b)
				if err != nil || n != 1 || b.Bytes()[PacketHeadroom] != byte(i) || from != want {
					t.Fatalf("datagram %d: %d bytes %v from %v, %v", i, n, b.Bytes()[PacketHeadroom:PacketHeadroom+n], from, err)
				}
			}
			recv.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			if _, _, err := r.Read(&b); err == nil || b.p != nil {
				t.Errorf("read past the deadline: %v, buffer held %v", err, b.p != nil)
			}
		})
	}
}
