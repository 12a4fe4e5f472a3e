package netx

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the writes that reach the conn under TLS.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// tlsPair is a handshaken TLS client over a RecordBatcher over a
// counting conn, and its server end.
func tlsPair(t *testing.T) (client *tls.Conn, b *RecordBatcher, counted *countingConn, server *tls.Conn) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	c1, c2 := net.Pipe()
	counted = &countingConn{Conn: c1}
	b = NewRecordBatcher(counted)
	client = tls.Client(b, &tls.Config{InsecureSkipVerify: true})
	server = tls.Server(c2, &tls.Config{Certificates: []tls.Certificate{cert}})
	done := make(chan error, 1)
	go func() { done <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c1.Close(); c2.Close() }) // not the TLS conns: nobody reads their close_notify
	return client, b, counted, server
}

// A BatchedTLS Write of several records reaches the socket in one write,
// intact; a plain tls.Conn over the same batcher writes record by record.
func TestBatchedTLSWritesOnce(t *testing.T) {
	client, b, counted, server := tlsPair(t)
	bc := NewBatchedTLS(client, b)
	msg := bytes.Repeat([]byte("0123456789abcdef"), 3<<10) // 48 KiB: at least 3 records
	tests := []struct {
		name    string
		w       io.Writer
		batched bool
	}{
		{"batched", bc, true},
		{"plain", client, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan []byte, 1)
			go func() {
				buf := make([]byte, len(msg))
				io.ReadFull(server, buf)
				got <- buf
			}()
			before := counted.writes.Load()
			if n, err := tt.w.Write(msg); n != len(msg) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			if g := <-got; !bytes.Equal(g, msg) {
				t.Fatal("the peer read other bytes than were written")
			}
			writes := counted.writes.Load() - before
			switch {
			case tt.batched && writes != 1:
				t.Errorf("a batched Write of %d bytes made %d writes to the socket, want 1", len(msg), writes)
			case !tt.batched && writes < 2:
				t.Errorf("a plain tls.Conn Write of %d bytes made %d writes: the batcher batches outside a BatchedTLS Write", len(msg), writes)
			}
		})
	}
}

// A failed send fails the batched Write.
func TestBatchedTLSWriteFails(t *testing.T) {
	client, b, counted, _ := tlsPair(t)
	bc := NewBatchedTLS(client, b)
	counted.Conn.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := bc.Write([]byte("lost")); err == nil {
		t.Fatal("a Write whose send failed reported no error")
	}
}
