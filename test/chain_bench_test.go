package test

import (
	"fmt"
	"io"
	"net"
	"testing"
)

// BenchmarkChain measures a two-hop ferry chain (a child ferry whose
// default route is a parent ferry) with plain TCP and with TLS between the
// hops, next to one ferry and a direct connection, all in the same run:
//
//   - bulk: throughput of one CONNECT tunnel carrying an upload (1 MiB per
//     op, until the origin has read it all);
//
//   - setup: tunnels opened one after another (CONNECT, a 1-byte echo,
//     close) per second.
//
//     go test ./test -run '^$' -bench Chain -benchtime 2s
func BenchmarkChain(b *testing.B) {
	pki := newChainPKI(b)
	single := startFerry(b, minimalConfig)
	parent := startFerry(b, fmt.Sprintf(`
[[listener]]
name = "plain"
address = "127.0.0.1:0"

[[listener]]
name = "tls"
address = "127.0.0.1:0"
tls = { cert = %q, key = %q, client_ca = %q }

[acl]
default = "allow"
`, pki.Path("remote.pem"), pki.Path("remote.key"), pki.Path("ca.pem")))
	chainTCP := startFerry(b, childConfig(fmt.Sprintf(`
[[upstream]]
name = "parent"
url = "http://%s"
[routing]
default = "parent"
`, parent.AddrOf("plain"))))
	chainTLS := startFerry(b, childConfig(fmt.Sprintf(`
[[upstream]]
name = "parent"
url = "https://%s"
ca_file = %q
cert = %q
key = %q
[routing]
default = "parent"
`, parent.AddrOf("tls"), pki.Path("ca.pem"), pki.Path("laptop.pem"), pki.Path("laptop.key"))))

	sink := tcpOrigin(b, sinkOrigin)
	echo := tcpOrigin(b, func(c *net.TCPConn) { io.Copy(c, c) })
	paths := []struct {
		name string
		open func(testing.TB, string) *net.TCPConn
	}{
		{"direct", func(t testing.TB, target string) *net.TCPConn { return dial(t, target) }},
		{"ferry", func(t testing.TB, target string) *net.TCPConn { return connectTunnel(t, single.Addr, target) }},
		{"chain-tcp", func(t testing.TB, target string) *net.TCPConn { return connectTunnel(t, chainTCP.Addr, target) }},
		{"chain-tls", func(t testing.TB, target string) *net.TCPConn { return connectTunnel(t, chainTLS.Addr, target) }},
	}
	buf := make([]byte, 1<<20)
	for _, p := range paths {
		b.Run("bulk/"+p.name, func(b *testing.B) {
			benchUpload(b, p.open(b, sink), buf)
		})
	}
	for _, p := range paths {
		b.Run("setup/"+p.name, func(b *testing.B) {
			one := make([]byte, 1)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				c := p.open(b, echo)
				if _, err := c.Write(one); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, one); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tunnels/s")
		})
	}
}
