package test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Raw is an HTTP/2 client that writes frames by hand over TLS to
// ferry's listener, for what a real client never sends: the hostile-input
// tests (h2_hostile_test.go).
type h2Raw struct {
	t        testing.TB
	c        *tls.Conn
	fr       *http2.Framer
	settings map[http2.SettingID]uint32 // ferry's first SETTINGS
}

// h2Dial connects to ferry's TLS listener at addr, sends the preface and
// an empty SETTINGS, and acknowledges ferry's SETTINGS.
func h2Dial(t testing.TB, addr string) *h2Raw {
	t.Helper()
	h := h2DialNoPreface(t, addr)
	io.WriteString(h.c, http2.ClientPreface)
	h.fr.WriteSettings()
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			t.Fatalf("ferry's SETTINGS: %v", err)
		}
		if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
			h.settings = map[http2.SettingID]uint32{}
			s.ForeachSetting(func(st http2.Setting) error { h.settings[st.ID] = st.Val; return nil })
			h.fr.WriteSettingsAck()
			return h
		}
	}
}

// h2DialNoPreface is h2Dial up to the TLS handshake (ALPN h2): nothing of
// HTTP/2 is sent yet.
func h2DialNoPreface(t testing.TB, addr string) *h2Raw {
	t.Helper()
	c := tls.Client(dial(t, addr), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN chose %q, want h2", p)
	}
	h := &h2Raw{t: t, c: c, fr: http2.NewFramer(c, c)}
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.fr.MaxHeaderListSize = 1 << 20
	return h
}

// h2Block encodes a header block of name, value pairs, in order, as
// given (no validation: a hostile client's).
func h2Block(fields ...string) []byte {
	var b bytes.Buffer
	e := hpack.NewEncoder(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		e.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return b.Bytes()
}

// headers sends one HEADERS frame holding the whole block.
func (h *h2Raw) headers(id uint32, endStream bool, block []byte) error {
	return h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: endStream, EndHeaders: true})
}

// h2Answer is how ferry answered a stream, or the connection.
type h2Answer struct {
	status string        // the stream's :status; "" if none
	perr   string        // the error its Proxy-Status names (ferry's own answer); "" if none
	rst    http2.ErrCode // the stream's RST_STREAM, if one came first
	goaway http2.ErrCode // the connection's GOAWAY, if one came first
	kind   string        // "status", "rst", "goaway" or "closed" (the connection ended without either)
}

func (a h2Answer) String() string {
	switch a.kind {
	case "status":
		if a.perr != "" {
			return ":status " + a.status + " (Proxy-Status error=" + a.perr + ")"
		}
		return ":status " + a.status
	case "rst":
		return "RST_STREAM " + a.rst.String()
	case "goaway":
		return "GOAWAY " + a.goaway.String()
	}
	return a.kind
}

// answer reads until ferry answers stream id (its response head or its
// reset) or the connection (GOAWAY, or its end); with id 0, only the
// connection's answer counts.
func (h *h2Raw) answer(id uint32) h2Answer {
	h.t.Helper()
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			return h2Answer{kind: "closed"}
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if id != 0 && f.StreamID == id {
				return h2Answer{kind: "status", status: f.PseudoValue("status"), perr: proxyStatusError(f)}
			}
		case *http2.RSTStreamFrame:
			if id != 0 && f.StreamID == id {
				return h2Answer{kind: "rst", rst: f.ErrCode}
			}
		case *http2.GoAwayFrame:
			return h2Answer{kind: "goaway", goaway: f.ErrCode}
		}
	}
}

// drain reads and discards frames until the connection ends, answering
// PINGs not, and returns the GOAWAY seen last (nil if none) and how
// long the connection lasted from the call.
func (h *h2Raw) drain() (*http2.GoAwayFrame, time.Duration) {
	start := time.Now()
	var last *http2.GoAwayFrame
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			return last, time.Since(start)
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			last = &http2.GoAwayFrame{FrameHeader: g.FrameHeader, LastStreamID: g.LastStreamID, ErrCode: g.ErrCode}
		}
	}
}

// h2Gauges are ferry's resident memory and goroutines, from its metrics.
type h2Gauges struct {
	rss        float64 // bytes
	goroutines float64
}

func (g h2Gauges) String() string {
	return fmt.Sprintf("RSS %.1f MiB, %0.f goroutines", g.rss/(1<<20), g.goroutines)
}

func h2Measure(t testing.TB, admin string) h2Gauges {
	t.Helper()
	ms := scrape(t, admin)
	return h2Gauges{rss: ms.val("process_resident_memory_bytes"), goroutines: ms.val("go_goroutines")}
}

// h2Settle waits until ferry's goroutines are back to at most base+slack
// (the connections an attack opened are gone), and returns the gauges
// then, or the last ones with false after timeout.
func h2Settle(t testing.TB, admin string, base h2Gauges, slack float64, timeout time.Duration) (h2Gauges, bool) {
	t.Helper()
	ms, ok := waitMetrics(t, admin, timeout, func(ms metrics) bool { return ms.val("go_goroutines") <= base.goroutines+slack })
	return h2Gauges{rss: ms.val("process_resident_memory_bytes"), goroutines: ms.val("go_goroutines")}, ok
}

// proxyStatusError is the error= parameter of a response's Proxy-Status
// (RFC 9209), "" if it has none.
func proxyStatusError(f *http2.MetaHeadersFrame) string {
	for _, hf := range f.RegularFields() {
		if hf.Name != "proxy-status" {
			continue
		}
		for _, p := range strings.Split(hf.Value, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "error="); ok {
				return v
			}
		}
	}
	return ""
}
