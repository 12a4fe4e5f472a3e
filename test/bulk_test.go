package test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// bulkTimeout bounds one 1 GiB round trip; it takes seconds on loopback.
const bulkTimeout = 5 * time.Minute

// stream writes n pseudo-random bytes (AES-CTR keystream: cheap, not
// compressible, never held in memory) to w, and returns their sha256.
func stream(w io.Writer, n int64) ([]byte, error) {
	block, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		return nil, err
	}
	ctr := cipher.NewCTR(block, make([]byte, aes.BlockSize))
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for n > 0 {
		chunk := buf[:min(int64(len(buf)), n)]
		ctr.XORKeyStream(chunk, chunk)
		h.Write(chunk)
		if _, err := w.Write(chunk); err != nil {
			return nil, err
		}
		n -= int64(len(chunk))
	}
	return h.Sum(nil), nil
}

// hashEchoOrigin echoes everything it reads; at EOF it appends the sha256
// of what it read and half-closes.
func hashEchoOrigin(c *net.TCPConn) {
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for {
		n, err := c.Read(buf)
		h.Write(buf[:n])
		if _, werr := c.Write(buf[:n]); werr != nil {
			return
		}
		if err != nil {
			break
		}
	}
	c.Write(h.Sum(nil))
	c.CloseWrite()
}

// TestBulk1GiB sends 1 GiB up each tunnel kind to an origin that echoes it
// back, streaming both ways at once, and checks the sha256 of the bytes
// sent, of those the origin read and of those echoed, and the access
// event's byte counts.
func TestBulk1GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB transfer skipped in -short mode")
	}
	const size = 1 << 30
	f := startFerry(t, minimalConfig)
	origin := tcpOrigin(t, hashEchoOrigin)
	for _, k := range tunnelKinds {
		t.Run(k.name, func(t *testing.T) {
			c := k.open(t, f.Addr, origin)
			c.SetDeadline(time.Now().Add(bulkTimeout))
			type result struct {
				sum []byte
				err error
			}
			sent := make(chan result, 1)
			go func() {
				sum, err := stream(c, size)
				if err == nil {
					err = c.CloseWrite()
				}
				sent <- result{sum, err}
			}()
			h := sha256.New()
			n, err := io.CopyBuffer(h, io.LimitReader(c, size), make([]byte, 256<<10))
			if err != nil || n != size {
				t.Fatalf("echo: read %d of %d bytes: %v", n, size, err)
			}
			originSum, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("reading the origin's checksum: %v", err)
			}
			var up result
			select {
			case up = <-sent:
			case <-time.After(bulkTimeout):
				t.Fatal("sender stuck")
			}
			if up.err != nil {
				t.Fatalf("send: %v", up.err)
			}
			echoed := h.Sum(nil)
			if !bytes.Equal(originSum, up.sum) || !bytes.Equal(echoed, up.sum) {
				t.Fatalf("sha256 sent %s, origin read %s, echoed %s",
					hex.EncodeToString(up.sum), hex.EncodeToString(originSum), hex.EncodeToString(echoed))
			}
			ev := f.WaitEvent("access", func(e Event) bool { return e.Str("client") == c.LocalAddr().String() })
			if ev.Int("bytes_up") != size || ev.Int("bytes_down") != size+sha256.Size || ev.Str("err") != "" {
				t.Errorf("access event %v, want bytes_up %d, bytes_down %d, no err", ev, size, size+sha256.Size)
			}
		})
	}
}

// sinkOrigin reads to EOF, then answers with the count read (8 bytes, big
// endian) and closes.
func sinkOrigin(c *net.TCPConn) {
	buf := make([]byte, 1<<20)
	var total uint64
	for {
		n, err := c.Read(buf)
		total += uint64(n)
		if err != nil {
			break
		}
	}
	c.Write(binary.BigEndian.AppendUint64(nil, total))
}

// benchUpload is one upload benchmark: it writes buf b.N times to c, a
// tunnel to a sinkOrigin, half-closes, and waits for the origin's count,
// which must be all that was sent. The time includes that wait.
func benchUpload(b *testing.B, c *net.TCPConn, buf []byte) {
	b.Helper()
	c.SetDeadline(time.Time{})
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	c.CloseWrite()
	c.SetReadDeadline(time.Now().Add(time.Minute))
	var got [8]byte
	if _, err := io.ReadFull(c, got[:]); err != nil && !errors.Is(err, io.EOF) {
		b.Fatal(err)
	}
	b.StopTimer()
	if n := binary.BigEndian.Uint64(got[:]); n != uint64(b.N)*uint64(len(buf)) {
		b.Fatalf("origin read %d bytes, sent %d", n, b.N*len(buf))
	}
}

// BenchmarkBulk measures the throughput of one connection carrying a bulk
// upload: direct to the origin on loopback (the baseline), and through a
// ferry CONNECT tunnel and a SOCKS5 tunnel, all in the same run. One op is
// 1 MiB; the time includes waiting for the origin to have read it all.
//
//	go test ./test -run '^$' -bench Bulk -benchtime 2s
func BenchmarkBulk(b *testing.B) {
	f := startFerry(b, minimalConfig)
	origin := tcpOrigin(b, sinkOrigin)
	opens := []struct {
		name string
		open func(testing.TB, string, string) *net.TCPConn
	}{
		{"direct", func(t testing.TB, _, target string) *net.TCPConn { return dial(t, target) }},
		{"connect", connectTunnel},
		{"socks5", socks5Tunnel},
	}
	buf := make([]byte, 1<<20)
	for _, o := range opens {
		b.Run(o.name, func(b *testing.B) {
			benchUpload(b, o.open(b, f.Addr, origin), buf)
		})
	}
}
