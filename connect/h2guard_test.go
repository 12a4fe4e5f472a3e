package connect

import (
	"bytes"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// fakeH2Net reads from a buffer: the frames a client sent.
type fakeH2Net struct {
	net.Conn
	r *bytes.Reader
}

func (c *fakeH2Net) Read(p []byte) (int, error)           { return c.r.Read(p) }
func (c *fakeH2Net) ConnectionState() tls.ConnectionState { return tls.ConnectionState{} }

// The guard cuts a connection that sends frames carrying nothing past
// its budget, counts the right frames whatever the read sizes, and lets
// frames that do work, and the budget that time refills, through.
func TestH2GuardCountsIdleFrames(t *testing.T) {
	frames := func(n int, write func(fr *http2.Framer)) []byte {
		var b bytes.Buffer
		b.WriteString(http2.ClientPreface)
		fr := http2.NewFramer(&b, nil)
		for range n {
			write(fr)
		}
		return b.Bytes()
	}
	over := h2IdleBurst + 1
	payload := bytes.Repeat([]byte{'x'}, 100)
	tests := []struct {
		name  string
		in    []byte
		step  time.Duration // the clock's advance at each read
		chunk int           // read size
		cut   bool
	}{
		{"PINGs past the burst", frames(over, func(fr *http2.Framer) { fr.WritePing(false, [8]byte{}) }), 0, 4096, true},
		{"PING answers", frames(over, func(fr *http2.Framer) { fr.WritePing(true, [8]byte{}) }), 0, 4096, false},
		{"SETTINGS past the burst", frames(over, func(fr *http2.Framer) { fr.WriteSettings() }), 0, 4096, true},
		{"PRIORITY past the burst", frames(over, func(fr *http2.Framer) {
			fr.WritePriority(1, http2.PriorityParam{Weight: 1})
		}), 0, 4096, true},
		{"empty DATA past the burst", frames(over, func(fr *http2.Framer) { fr.WriteData(1, false, nil) }), 0, 4096, true},
		{"empty DATA ending streams", frames(over, func(fr *http2.Framer) { fr.WriteData(1, true, nil) }), 0, 4096, false},
		{"empty CONTINUATION past the burst", frames(over, func(fr *http2.Framer) { fr.WriteContinuation(1, false, nil) }), 0, 4096, true},
		{"DATA with data", frames(10*over, func(fr *http2.Framer) { fr.WriteData(1, false, payload) }), 0, 4096, false},
		{"WINDOW_UPDATE", frames(10*over, func(fr *http2.Framer) { fr.WriteWindowUpdate(1, 1) }), 0, 4096, false},
		// Frame headers split across reads are followed all the same,
		// and a payload holding what looks like PINGs is skipped.
		{"PINGs read a byte at a time", frames(over, func(fr *http2.Framer) { fr.WritePing(false, [8]byte{}) }), 0, 1, true},
		{"PINGs inside DATA", frames(10, func(fr *http2.Framer) {
			fr.WriteData(1, false, frames(over, func(fr *http2.Framer) { fr.WritePing(false, [8]byte{}) })[24:])
		}), 0, 7, false},
		// 50 PINGs a second, under the rate: the refill keeps up.
		{"PINGs slower than the rate", frames(10*over, func(fr *http2.Framer) { fr.WritePing(false, [8]byte{}) }), time.Second, 17 * 50, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Unix(0, 0)
			flooded := 0
			g := newH2Guard(&fakeH2Net{r: bytes.NewReader(tt.in)}, func() { flooded++ })
			g.now = func() time.Time { return now }
			buf := make([]byte, tt.chunk)
			var err error
			for err == nil {
				_, err = g.Read(buf)
				now = now.Add(tt.step)
			}
			if cut := err == errFlood; cut != tt.cut || flooded != map[bool]int{true: 1}[tt.cut] {
				t.Errorf("cut %v (flooded called %d times), want %v", cut, flooded, tt.cut)
			}
		})
	}
}
