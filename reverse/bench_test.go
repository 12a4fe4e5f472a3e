package reverse

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"testing"
	"time"
)

// BenchmarkReverse compares a TLS-passthrough route with a direct
// connection to the same backend, in the same run:
//
//	conn/direct, conn/ferry: connections per second (dial, TLS handshake
//	  with the backend, one byte back, close);
//	bulk-tls/...: 1 MiB per op over one TLS connection, acknowledged;
//	bulk-raw/...: the same after a ClientHello but without TLS, so the
//	  figure is ferry's relay (splice) rather than the client's AES.
func BenchmarkReverse(b *testing.B) {
	cert := benchCert(b)
	tlsBackend := benchBackend(b, &cert)
	rawBackend := benchBackend(b, nil)
	ferryTLS := worldSink(b, ListenerConfig{Mode: ModeTLS, Routes: []RouteConfig{route(tlsBackend)}}, discard{}).Addr("l").String()
	ferryRaw := worldSink(b, ListenerConfig{Mode: ModeTLS, Routes: []RouteConfig{route(rawBackend)}}, discard{}).Addr("l").String()
	clientTLS := &tls.Config{ServerName: "bench.example.test", InsecureSkipVerify: true}

	for _, c := range []struct{ name, addr string }{{"direct", tlsBackend}, {"ferry", ferryTLS}} {
		b.Run("conn/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			one := make([]byte, 1)
			for b.Loop() {
				conn, err := tls.Dial("tcp", c.addr, clientTLS)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(conn, one); err != nil {
					b.Fatal(err)
				}
				conn.Close()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conn/s")
		})
	}
	for _, c := range []struct{ name, addr string }{{"direct", tlsBackend}, {"ferry", ferryTLS}} {
		b.Run("bulk-tls/"+c.name, func(b *testing.B) {
			conn, err := tls.Dial("tcp", c.addr, clientTLS)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			benchBulk(b, conn)
		})
	}
	for _, c := range []struct{ name, addr string }{{"direct", rawBackend}, {"ferry", ferryRaw}} {
		b.Run("bulk-raw/"+c.name, func(b *testing.B) {
			conn, err := net.Dial("tcp", c.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(buildHello("bench.example.test", nil, 0)); err != nil {
				b.Fatal(err)
			}
			benchBulk(b, conn)
		})
	}
}

const bulkChunk = 1 << 20

// benchBulk sends 1 MiB per op and waits for the backend's one-byte ack.
func benchBulk(b *testing.B, conn net.Conn) {
	one := make([]byte, 1)
	if _, err := io.ReadFull(conn, one); err != nil { // the greeting
		b.Fatal(err)
	}
	buf := make([]byte, bulkChunk)
	b.SetBytes(bulkChunk)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := conn.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, one); err != nil {
			b.Fatal(err)
		}
	}
}

// benchBackend greets with one byte, then acks every full MiB read. A raw
// backend first skips the ClientHello-sized preamble a raw bench client
// sends (everything before the first MiB boundary is counted from there).
func benchBackend(b *testing.B, cert *tls.Certificate) string {
	hello := len(buildHello("bench.example.test", nil, 0))
	return serveBackend(b, func(c net.Conn) {
		var conn net.Conn = c
		skip := hello
		if cert != nil {
			conn = tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*cert}})
			skip = 0
		}
		if _, err := conn.Write([]byte{1}); err != nil {
			return
		}
		if skip > 0 {
			if _, err := io.CopyN(io.Discard, conn, int64(skip)); err != nil {
				return
			}
		}
		buf := make([]byte, bulkChunk)
		for {
			if _, err := io.ReadFull(conn, buf); err != nil {
				return
			}
			if _, err := conn.Write([]byte{1}); err != nil {
				return
			}
		}
	})
}

func benchCert(b *testing.B) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "bench.example.test"},
		DNSNames:     []string{"bench.example.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
