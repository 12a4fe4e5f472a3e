package connect_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/connect"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rawH2 is a client that writes HTTP/2 frames by hand, for what a real
// client never sends.
type rawH2 struct {
	c        *tls.Conn
	fr       *http2.Framer
	settings map[http2.SettingID]uint32 // the server's first SETTINGS
}

// rawH2Conn connects, sends the preface and SETTINGS, and acknowledges
// the server's.
func (w *world) rawH2(t testing.TB) *rawH2 {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: bound}, "tcp", w.addr,
		&tls.Config{RootCAs: w.pool, ServerName: "127.0.0.1", NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(bound))
	h := &rawH2{c: c, fr: http2.NewFramer(c, c)}
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	io.WriteString(c, http2.ClientPreface)
	h.fr.WriteSettings()
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			t.Fatalf("server SETTINGS: %v", err)
		}
		if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
			h.settings = map[http2.SettingID]uint32{}
			s.ForeachSetting(func(st http2.Setting) error { h.settings[st.ID] = st.Val; return nil })
			h.fr.WriteSettingsAck()
			return h
		}
	}
}

// block encodes a request's header block.
func block(fields ...string) []byte {
	var b bytes.Buffer
	e := hpack.NewEncoder(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		e.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return b.Bytes()
}

func connectBlock(target string) []byte { return block(":method", "CONNECT", ":authority", target) }

// until reads frames until match says stop, or the connection ends (nil).
func (h *rawH2) until(t testing.TB, match func(http2.Frame) bool) http2.Frame {
	t.Helper()
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			return nil
		}
		if match(f) {
			return f
		}
	}
}

func isGoAway(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }

// alive fails unless the world still serves a new connection.
func (w *world) alive(t testing.TB) {
	t.Helper()
	res, s := connectH2(t, w.h2(t), echoTarget(t), nil)
	if res.StatusCode != 200 {
		t.Fatalf("a new connection after the attack: CONNECT %d", res.StatusCode)
	}
	go io.WriteString(s, "still up")
	b := make([]byte, 8)
	if _, err := io.ReadFull(s, b); err != nil || string(b) != "still up" {
		t.Fatalf("a new connection after the attack: echo %q, %v", b, err)
	}
}

// Streams beyond max_concurrent_streams are refused, each on its own; the
// ones open keep working.
func TestH2StreamFlood(t *testing.T) {
	cfg := connect.Config{}
	cfg.HTTP2.SetDefaults()
	cfg.HTTP2.MaxConcurrentStreams = 4
	w := newH2World(t, options{cfg: cfg})
	echo := echoTarget(t)
	h := w.rawH2(t)
	for id := uint32(1); id <= 7; id += 2 {
		h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: connectBlock(echo), EndHeaders: true})
	}
	// The four are answered 200.
	for ok := 0; ok < 4; {
		f := h.until(t, func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok })
		if f == nil {
			t.Fatal("connection ended before the four were answered")
		}
		if st := f.(*http2.MetaHeadersFrame).PseudoValue("status"); st != "200" {
			t.Fatalf("stream %d: status %s", f.Header().StreamID, st)
		}
		ok++
	}
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 9, BlockFragment: connectBlock(echo), EndHeaders: true})
	f := h.until(t, func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok })
	if f == nil {
		t.Fatal("a fifth stream was not refused (no RST_STREAM)")
	}
	if rst := f.(*http2.RSTStreamFrame); rst.StreamID != 9 ||
		rst.ErrCode != http2.ErrCodeProtocol && rst.ErrCode != http2.ErrCodeRefusedStream {
		t.Errorf("RST_STREAM stream %d %v, want stream 9 refused", rst.StreamID, rst.ErrCode)
	}
	// Stream 1 still echoes.
	h.fr.WriteData(1, false, []byte("ping"))
	if f := h.until(t, func(f http2.Frame) bool { d, ok := f.(*http2.DataFrame); return ok && d.StreamID == 1 }); f == nil ||
		string(f.(*http2.DataFrame).Data()) != "ping" {
		t.Errorf("stream 1 after the refusal: %v", f)
	}
	w.alive(t)
}

// A rapid-reset flood (CVE-2023-44487: streams opened and reset at once,
// thousands of them) does not make ferry dial for each: x/net refuses the
// connection (GOAWAY ENHANCE_YOUR_CALM) once more handlers wait than it
// allows, and ferry closes one that resets most of its streams before
// their answer; ferry serves others on.
func TestH2RapidReset(t *testing.T) {
	cfg := connect.Config{}
	cfg.HTTP2.SetDefaults()
	cfg.HTTP2.MaxConcurrentStreams = 10
	w := newH2World(t, options{cfg: cfg})
	var dials atomic.Int64
	target := rawServer(t, func(_ int, c net.Conn) { dials.Add(1); io.Copy(io.Discard, c) })
	h := w.rawH2(t)
	const streams = 10000
	sent := 0
	for id := uint32(1); sent < streams; id += 2 {
		if h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: connectBlock(target), EndHeaders: true}) != nil ||
			h.fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
			break
		}
		sent++
	}
	f := h.until(t, isGoAway)
	if f != nil && f.(*http2.GoAwayFrame).ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Errorf("GOAWAY %v, want ENHANCE_YOUR_CALM", f.(*http2.GoAwayFrame).ErrCode)
	}
	// Without a bound, every stream whose handler started before its reset
	// was read dials (thousands, on a slow machine).
	if n := dials.Load(); n > 4*10+2*100 {
		t.Errorf("%d of %d reset streams dialed the target", n, sent)
	}
	t.Logf("%d streams sent before the connection ended; %d dials; GOAWAY %v", sent, dials.Load(), f)
	w.alive(t)
}

// A header block that never ends (CONTINUATION flood, CVE-2024-27316
// class) is cut off once it passes the header list bound: the connection
// is closed long before the client is through.
func TestH2ContinuationFlood(t *testing.T) {
	w := newH2World(t, options{})
	h := w.rawH2(t)
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: connectBlock("127.0.0.1:443"), EndHeaders: false})
	chunk := block("x-flood", strings.Repeat("a", 8000))
	const total = 64 << 20
	sent := 0
	for sent < total {
		if err := h.fr.WriteContinuation(1, false, chunk); err != nil {
			break
		}
		sent += len(chunk)
	}
	if sent >= total {
		t.Fatalf("ferry took %d MiB of one header block", total>>20)
	}
	t.Logf("the connection was cut after %d KiB of CONTINUATION", sent>>10)
	if f := h.until(t, isGoAway); f == nil || f.(*http2.GoAwayFrame).ErrCode != http2.ErrCodeProtocol {
		t.Errorf("answered %v, want GOAWAY PROTOCOL_ERROR", f)
	}
	w.alive(t)
}

// A header list over max_header_bytes gets 431 on its stream and the
// connection carries on; one field larger than the whole bound is an
// HPACK error of the connection (x/net's decoder stops at it: GOAWAY
// COMPRESSION_ERROR), and so is a CONTINUATION after the bound is passed
// (TestH2ContinuationFlood).
func TestH2OversizedHeaderList(t *testing.T) {
	cfg := connect.Config{}
	cfg.MaxHeaderBytes = 16 << 10
	w := newH2World(t, options{cfg: cfg})
	// One field, then 31 references to it in HPACK's table: a small
	// block that decodes to 32 KiB.
	fields := []string{":method", "GET", ":scheme", "http", ":authority", "127.0.0.1:1", ":path", "/"}
	for range 32 {
		fields = append(fields, "x-field", strings.Repeat("b", 1000))
	}
	many := block(fields...)
	one := append(block(":method", "GET", ":scheme", "http", ":authority", "127.0.0.1:1", ":path", "/"),
		block("x-big", strings.Repeat("b", 32<<10))...)
	tests := []struct {
		name   string
		frag   []byte
		status string        // the stream's answer; "" for a connection error
		code   http2.ErrCode // the GOAWAY's
	}{
		{"many fields", many, "431", 0},
		{"one field", one, "", http2.ErrCodeCompression},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := w.rawH2(t)
			frag, first := tt.frag, true
			for first || len(frag) > 0 {
				n := min(len(frag), 16<<10)
				end := n == len(frag)
				if first {
					h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: frag[:n], EndStream: true, EndHeaders: end})
				} else {
					h.fr.WriteContinuation(1, end, frag[:n])
				}
				frag, first = frag[n:], false
			}
			f := h.until(t, func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok || isGoAway(f) })
			switch f := f.(type) {
			case *http2.MetaHeadersFrame:
				if f.PseudoValue("status") != tt.status {
					t.Errorf("answered %s, want %q", f.PseudoValue("status"), tt.status)
				}
			case *http2.GoAwayFrame:
				if tt.status != "" || f.ErrCode != tt.code {
					t.Errorf("GOAWAY %v, want status %q / GOAWAY %v", f.ErrCode, tt.status, tt.code)
				}
			default:
				t.Fatal("no answer")
			}
		})
	}
	w.alive(t)
}

// Window updates that would overflow a window (RFC 9113 §6.9.1), or of
// zero (§6.9), are errors of the connection or the stream, answered so.
func TestH2WindowUpdateAbuse(t *testing.T) {
	w := newH2World(t, options{})
	echo := echoTarget(t)
	tests := []struct {
		name   string
		stream bool
		incr   []uint32
		want   http2.ErrCode
	}{
		{"conn overflow", false, []uint32{1<<31 - 1, 1<<31 - 1}, http2.ErrCodeFlowControl},
		{"stream overflow", true, []uint32{1<<31 - 1, 1<<31 - 1}, http2.ErrCodeFlowControl},
		{"conn zero", false, []uint32{0}, http2.ErrCodeProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := w.rawH2(t)
			id := uint32(0)
			if tt.stream {
				id = 1
				h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: connectBlock(echo), EndHeaders: true})
			}
			for _, n := range tt.incr {
				// WriteWindowUpdate refuses 0 itself: the raw frame.
				h.fr.WriteRawFrame(http2.FrameWindowUpdate, 0, id,
					[]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
			}
			f := h.until(t, func(f http2.Frame) bool {
				rst, ok := f.(*http2.RSTStreamFrame)
				return isGoAway(f) || ok && rst.StreamID == id
			})
			var got http2.ErrCode
			switch f := f.(type) {
			case *http2.GoAwayFrame:
				got = f.ErrCode
			case *http2.RSTStreamFrame:
				got = f.ErrCode
			default:
				t.Fatal("no GOAWAY or RST_STREAM")
			}
			if got != tt.want {
				t.Errorf("answered %v, want %v", got, tt.want)
			}
		})
	}
	w.alive(t)
}
