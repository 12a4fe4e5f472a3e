package test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// h2Flooder writes frames to ferry buffered (a frame is a few bytes; one
// TLS record each would make the client the bottleneck), reading ferry's
// frames on a goroutine of its own unless told not to read at all.
type h2Flooder struct {
	*h2Raw
	bw    *bufio.Writer
	ended chan struct{} // closed when the connection ended (a read failed)
	last  chan *http2.GoAwayFrame
}

func newFlooder(t testing.TB, addr string, read bool) *h2Flooder {
	h := h2Dial(t, addr)
	bw := bufio.NewWriterSize(h.c, 64<<10)
	fl := &h2Flooder{h2Raw: h, bw: bw, ended: make(chan struct{}), last: make(chan *http2.GoAwayFrame, 1)}
	fl.fr = http2.NewFramer(bw, h.c)
	fl.fr.ReadMetaHeaders = h.fr.ReadMetaHeaders
	fl.fr.MaxHeaderListSize = h.fr.MaxHeaderListSize
	if read {
		go func() {
			g, _ := fl.drain()
			fl.last <- g
			close(fl.ended)
		}()
	}
	return fl
}

// flood writes n frames with write, flushing as it goes, and says how
// many went before the connection refused more.
func (fl *h2Flooder) flood(n int, write func(i int) error) int {
	for i := range n {
		if write(i) != nil {
			return i
		}
		if i%512 == 511 && fl.bw.Flush() != nil {
			return i
		}
	}
	fl.bw.Flush()
	return n
}

// cut reports whether ferry ended the connection within wait, and the
// GOAWAY it sent before, if any.
func (fl *h2Flooder) cut(wait time.Duration) (bool, *http2.GoAwayFrame) {
	select {
	case <-fl.ended:
		return true, <-fl.last
	case <-time.After(wait):
		return false, nil
	}
}

// Floods of frames each cheap to send (CVE-2023-44487 rapid reset, the
// CVE-2024-27316 class of CONTINUATION, streams over the limit,
// SETTINGS, PING, PRIORITY, empty DATA) and a client that never reads:
// ferry stays up, a tunnel on another connection keeps working, its
// goroutines go back to where they were once the attacker is gone, and
// its memory stays bounded. Each flood logs ferry's RSS, goroutines and
// CPU time before and after (the figures of the report).
func TestH2FloodsE2E(t *testing.T) {
	pki := newChainPKI(t)
	f := startFerry(t, h2HostileConfig(pki, "[limits]\nidle_timeout = \"3s\"\nkeepalive_timeout = \"3s\"\n"))
	addr, admin := f.AddrOf("tls"), f.AddrOf("admin")
	echo := echoOrigin(t)
	silent := tcpOrigin(t, func(c *net.TCPConn) { io.Copy(io.Discard, c) })
	connectTo := func(target string) []byte { return h2Block(":method", "CONNECT", ":authority", target) }
	chunk := h2Block("x-flood", strings.Repeat("a", 8000))

	tests := []struct {
		name    string
		read    bool                    // the attacker reads ferry's frames
		attack  func(fl *h2Flooder) int // frames it got out
		mustCut bool                    // ferry must end the connection (else the test ends it)
	}{
		{"rapid reset", true, func(fl *h2Flooder) int {
			return fl.flood(20000, func(i int) error {
				id := uint32(2*i + 1)
				fl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: connectTo(echo), EndHeaders: true})
				return fl.fr.WriteRSTStream(id, http2.ErrCodeCancel)
			})
		}, true},
		{"CONTINUATION flood", true, func(fl *h2Flooder) int {
			fl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: connectTo(echo)})
			return fl.flood(8192, func(int) error { return fl.fr.WriteContinuation(1, false, chunk) })
		}, true},
		{"empty CONTINUATION flood", true, func(fl *h2Flooder) int {
			fl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: connectTo(echo)})
			return fl.flood(500000, func(int) error { return fl.fr.WriteContinuation(1, false, nil) })
		}, true},
		{"streams over max_concurrent_streams", true, func(fl *h2Flooder) int {
			return fl.flood(2000, func(i int) error {
				return fl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: connectTo(silent), EndHeaders: true})
			})
		}, false},
		{"SETTINGS flood, never reading", false, func(fl *h2Flooder) int {
			return fl.flood(200000, func(int) error {
				return fl.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535})
			})
		}, true},
		{"SETTINGS flood", true, func(fl *h2Flooder) int {
			return fl.flood(200000, func(int) error {
				return fl.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535})
			})
		}, true},
		{"PING flood, never reading", false, func(fl *h2Flooder) int {
			return fl.flood(200000, func(int) error { return fl.fr.WritePing(false, [8]byte{1}) })
		}, true},
		{"PING flood", true, func(fl *h2Flooder) int {
			return fl.flood(200000, func(int) error { return fl.fr.WritePing(false, [8]byte{1}) })
		}, true},
		{"PRIORITY flood", true, func(fl *h2Flooder) int {
			return fl.flood(200000, func(i int) error {
				return fl.fr.WritePriority(uint32(2*i+1), http2.PriorityParam{StreamDep: uint32(2*i + 3), Weight: 7})
			})
		}, true},
		{"empty DATA flood", true, func(fl *h2Flooder) int {
			fl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: connectTo(silent), EndHeaders: true})
			return fl.flood(500000, func(int) error { return fl.fr.WriteData(1, false, nil) })
		}, true},
	}

	// A bystander: a tunnel on a connection of its own, checked after
	// each flood.
	by := h2Dial(t, addr)
	by.headers(1, false, connectTo(echo))
	if a := by.answer(1); a.status != "200" {
		t.Fatalf("bystander CONNECT: %v", a)
	}
	base := h2Measure(t, admin)
	t.Logf("baseline: %v", base)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := scrape(t, admin)
			fl := newFlooder(t, addr, tt.read)
			fl.c.SetDeadline(time.Now().Add(time.Minute))
			start := time.Now()
			sent := tt.attack(fl)
			took := time.Since(start)
			during := h2Measure(t, admin)
			if !tt.read { // it reads now, to see whether ferry ended it
				go func() {
					g, _ := fl.drain()
					fl.last <- g
					close(fl.ended)
				}()
			}
			wasCut, goaway := fl.cut(2 * time.Second)
			if tt.mustCut && !wasCut {
				t.Errorf("ferry did not end the connection")
			}
			fl.c.Close()
			after, settled := h2Settle(t, admin, base, 8, 10*time.Second)
			cpu := scrape(t, admin).val("process_cpu_seconds_total") - before.val("process_cpu_seconds_total")
			t.Logf("%d frames in %v; cut by ferry: %v %v; during: %v; after: %v; ferry CPU %.2fs",
				sent, took.Round(time.Millisecond), wasCut, goawayString(goaway), during, after, cpu)
			if !settled {
				t.Errorf("goroutines did not go back to %0.f (+8) once the attacker left: %v", base.goroutines, after)
			}
			if during.rss > base.rss+256<<20 {
				t.Errorf("RSS grew from %v to %v under the flood", base, during)
			}
			// The bystander's tunnel still echoes.
			msg := []byte("still here")
			by.fr.WriteData(1, false, msg)
			for {
				fr, err := by.fr.ReadFrame()
				if err != nil {
					t.Fatalf("bystander after %s: %v", tt.name, err)
				}
				if d, ok := fr.(*http2.DataFrame); ok && d.StreamID == 1 {
					if string(d.Data()) != string(msg) {
						t.Fatalf("bystander echo %q", d.Data())
					}
					break
				}
			}
		})
	}
}

func goawayString(g *http2.GoAwayFrame) string {
	if g == nil {
		return "(no GOAWAY)"
	}
	return fmt.Sprintf("GOAWAY %v", g.ErrCode)
}

// A client that opens its windows wide, asks for 50 large downloads and
// never reads: ferry's writes stall on that connection only, what it
// holds stays bounded (x/net hands a stream's handler one frame at a
// time; the origins' bytes wait in their sockets), and the connection is
// cut once nothing moved for idle_timeout (WriteByteTimeout).
func TestH2ClientNeverReadsE2E(t *testing.T) {
	pki := newChainPKI(t)
	f := startFerry(t, h2HostileConfig(pki, "[limits]\nidle_timeout = \"3s\"\n"))
	addr, admin := f.AddrOf("tls"), f.AddrOf("admin")
	big := bytes.Repeat([]byte{'z'}, 1<<20)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 64 {
			if _, err := w.Write(big); err != nil {
				return
			}
		}
	}))
	t.Cleanup(web.Close)
	base := h2Measure(t, admin)

	h := h2Dial(t, addr)
	h.c.SetDeadline(time.Now().Add(time.Minute))
	h.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	h.fr.WriteWindowUpdate(0, 1<<31-1-65535)
	const streams = 50
	for i := range streams {
		h.headers(uint32(2*i+1), true, h2Block(":method", "GET", ":scheme", "http", ":authority", web.Listener.Addr().String(), ":path", "/"))
	}
	// Peak while ferry's writes are stalled: sampled until the connection
	// is cut (ferry closes it; a read then ends).
	var peak h2Gauges
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < 100; i++ {
		g := h2Measure(t, admin)
		peak.rss, peak.goroutines = max(peak.rss, g.rss), max(peak.goroutines, g.goroutines)
		if g.goroutines <= base.goroutines+4 && i > 0 {
			break // the connection and its streams are gone
		}
		<-tick.C
	}
	_, lasted := h.drain()
	after, settled := h2Settle(t, admin, base, 4, 10*time.Second)
	t.Logf("%d stalled downloads of 64 MiB: baseline %v; peak %v; after %v; drained the rest in %v", streams, base, peak, after, lasted)
	if !settled {
		t.Errorf("goroutines did not go back once the connection was cut: %v", after)
	}
	if peak.rss > base.rss+128<<20 {
		t.Errorf("RSS grew from %v to %v while the client did not read", base, peak)
	}
	// Another client is served.
	other := h2Dial(t, addr)
	other.headers(1, true, h2Block(":method", "GET", ":scheme", "http", ":authority", web.Listener.Addr().String(), ":path", "/"))
	if a := other.answer(1); a.status != "200" {
		t.Fatalf("another client after: %v", a)
	}
}

// A client that stops part way (before the preface, within it, within a
// frame header, within a frame's payload) is cut: x/net waits 10 s for
// the preface, and a connection with no stream open closes after
// keepalive_timeout. No read from a client waits without end.
func TestH2StalledClientE2E(t *testing.T) {
	pki := newChainPKI(t)
	f := startFerry(t, h2HostileConfig(pki, "[limits]\nkeepalive_timeout = \"2s\"\n"))
	addr := f.AddrOf("tls")
	tests := []struct {
		name string
		send func(h *h2Raw)
	}{
		{"no preface", func(h *h2Raw) {}},
		{"half a preface", func(h *h2Raw) { io.WriteString(h.c, http2.ClientPreface[:10]) }},
		{"half a frame header", func(h *h2Raw) {
			io.WriteString(h.c, http2.ClientPreface)
			h.fr.WriteSettings()
			h.c.Write([]byte{0, 0, 8, 6})
		}},
		{"half a frame", func(h *h2Raw) {
			io.WriteString(h.c, http2.ClientPreface)
			h.fr.WriteSettings()
			h.c.Write([]byte{0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := h2DialNoPreface(t, addr)
			h.c.SetDeadline(time.Now().Add(eventTimeout))
			tt.send(h)
			_, lasted := h.drain()
			if err := h.c.SetDeadline(time.Time{}); lasted >= eventTimeout-time.Second {
				t.Fatalf("ferry kept the connection %v (%v)", lasted, err)
			}
			t.Logf("cut after %v", lasted.Round(10*time.Millisecond))
		})
	}
}
