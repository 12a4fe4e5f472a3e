package connect

import (
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// Floods of frames that carry nothing (CVE-2019-9512 PING, -9515
// SETTINGS, -9516 and -9518 empty frames, and PRIORITY): x/net's server
// answers each and cuts a connection only when the answers it queued go
// unread, so a client that reads keeps ferry busy at its own pace: a
// frame of 9 bytes costs the client nothing and ferry about 2 µs (100,000
// PINGs, 0.4 s of CPU; TestH2FloodsE2E). h2Guard watches the frames as
// x/net reads them, as Envoy and HAProxy do: each such frame draws on a
// budget of h2IdleBurst that refills at h2IdleRate a second, and a client
// past it has its connection cut. No client that does useful work comes
// near it: browsers send a few SETTINGS and PRIORITY frames and a PING
// now and then, and a ferry below pings after h2PingAfter of silence.
const (
	h2IdleBurst = 1000
	h2IdleRate  = 100 // a second
)

// errFlood is the read error that cuts a flooding connection: x/net
// closes it, as it does on any read error.
var errFlood = errors.New("http2: the client sends frames that carry nothing faster than allowed (a flood)")

// h2Net is what x/net serves: a conn with its TLS state (x/net gives
// requests on https streams r.TLS from it).
type h2Net interface {
	net.Conn
	ConnectionState() tls.ConnectionState
}

// h2Guard reads for x/net and follows the frame headers in what it
// reads: the 24-byte client preface, then frames of a 9-byte header and
// its payload (RFC 9113 §3.4, §4.1). It counts; x/net checks everything
// else.
type h2Guard struct {
	h2Net
	now     func() time.Time
	flooded func() // called once, as the connection is cut

	preface int     // preface bytes still to pass
	hdr     [9]byte // the frame header being read
	have    int     // bytes of hdr read
	skip    uint32  // payload bytes of the current frame still to pass
	tokens  float64 // the budget left
	last    time.Time
	cut     bool
}

func newH2Guard(c h2Net, flooded func()) *h2Guard {
	return &h2Guard{h2Net: c, now: time.Now, flooded: flooded, preface: 24, tokens: h2IdleBurst}
}

func (g *h2Guard) Read(p []byte) (int, error) {
	if g.cut {
		return 0, errFlood
	}
	n, err := g.h2Net.Read(p)
	if g.scan(p[:n]) {
		g.cut = true
		g.flooded()
		return n, errFlood
	}
	return n, err
}

// scan follows the frames in b and reports whether the budget ran out.
func (g *h2Guard) scan(b []byte) bool {
	if g.preface > 0 {
		k := min(g.preface, len(b))
		g.preface -= k
		b = b[k:]
	}
	for len(b) > 0 {
		if g.skip > 0 {
			k := min(int(g.skip), len(b))
			g.skip -= uint32(k)
			b = b[k:]
			continue
		}
		k := copy(g.hdr[g.have:], b)
		g.have += k
		b = b[k:]
		if g.have < len(g.hdr) {
			return false
		}
		g.have = 0
		g.skip = uint32(g.hdr[0])<<16 | uint32(g.hdr[1])<<8 | uint32(g.hdr[2])
		if idleFrame(g.hdr[3], g.hdr[4], g.skip) && !g.draw() {
			return true
		}
	}
	return false
}

// idleFrame reports whether a frame of type typ, with flags and a
// payload of length bytes, makes ferry work and carries nothing: a PING
// or SETTINGS that is not an answer, a PRIORITY, a DATA frame without
// data that does not end its stream, a header fragment without a byte
// that does not end its block (RFC 9113 §6).
func idleFrame(typ, flags byte, length uint32) bool {
	const (
		data, headers, priority, settings, ping, continuation = 0x0, 0x1, 0x2, 0x4, 0x6, 0x9
		ack, endStream, endHeaders                            = 0x1, 0x1, 0x4
	)
	switch typ {
	case ping, settings:
		return flags&ack == 0
	case priority:
		return true
	case data:
		return length == 0 && flags&endStream == 0
	case headers, continuation:
		return length == 0 && flags&endHeaders == 0
	}
	return false
}

// draw takes one from the budget, refilled for the time since the last
// draw, and reports whether there was one.
func (g *h2Guard) draw() bool {
	now := g.now()
	if !g.last.IsZero() {
		g.tokens = min(h2IdleBurst, g.tokens+now.Sub(g.last).Seconds()*h2IdleRate)
	}
	g.last = now
	if g.tokens < 1 {
		return false
	}
	g.tokens--
	return true
}
