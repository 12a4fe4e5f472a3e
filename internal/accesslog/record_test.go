package accesslog

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

type countSink struct{ n int }

func (s *countSink) Write(*Record) { s.n++ }

func TestFinishWritesOnce(t *testing.T) {
	s := &countSink{}
	r := Start(s, "socks5", netip.MustParseAddrPort("127.0.0.1:1"))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); r.Finish() }()
	}
	wg.Wait()
	if s.n != 1 {
		t.Errorf("sink written %d times, want 1", s.n)
	}
	var nilRec *Record
	nilRec.Finish()                               // no panic
	Start(nil, "http", netip.AddrPort{}).Finish() // no sink: nothing to do
}

func TestStartGivesUniqueIDs(t *testing.T) {
	a, b := Start(nil, "http", netip.AddrPort{}), Start(nil, "http", netip.AddrPort{})
	if a.ID == "" || a.ID == b.ID {
		t.Errorf("IDs %q and %q, want distinct and non-empty", a.ID, b.ID)
	}
}

// The schema is fixed (STYLE.md): every field present in every event, err
// only when there is one.
func TestZerologSchema(t *testing.T) {
	var buf bytes.Buffer
	z := Zerolog{Log: zerolog.New(&buf)}
	r := Start(z, "connect", netip.MustParseAddrPort("[::1]:5000"))
	r.Start = time.Now().Add(-1500 * time.Millisecond)
	r.Method, r.Target, r.Dialed, r.Status = "CONNECT", "example.com:443", "192.0.2.1:443", 200
	r.BytesUp, r.BytesDown, r.Dial = 10, 20, 30*time.Millisecond
	r.Finish()
	r2 := Start(z, "socks5", netip.AddrPort{})
	r2.Err = errors.New("dial example.com:443: refused")
	r2.Finish()

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d events, want 2:\n%s", len(lines), buf.String())
	}
	want := []string{"bytes_down", "bytes_up", "cache", "client", "decision", "dial_ms", "dialed", "dur_ms",
		"id", "level", "message", "method", "proto", "proxy_status", "route", "rule", "status", "target", "upstream", "url", "user"}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("event %d is not JSON: %v", i, err)
		}
		var keys []string
		for k := range m {
			if k != "err" {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		if !slices.Equal(keys, want) {
			t.Errorf("event %d fields %v, want %v", i, keys, want)
		}
		if m["message"] != "access" {
			t.Errorf("event %d message %v, want access", i, m["message"])
		}
		_, hasErr := m["err"]
		if hasErr != (i == 1) {
			t.Errorf("event %d has err = %v", i, hasErr)
		}
	}
	var first map[string]any
	json.Unmarshal([]byte(lines[0]), &first)
	if first["client"] != "[::1]:5000" || first["status"] != 200.0 || first["bytes_up"] != 10.0 ||
		first["dial_ms"] != 30.0 || first["dur_ms"].(float64) < 1500 {
		t.Errorf("event 0 = %v", first)
	}
}

func TestAppendAddrPort(t *testing.T) {
	tests := []struct {
		name string
		in   netip.AddrPort
	}{
		{"zero", netip.AddrPort{}},
		{"v4", netip.MustParseAddrPort("192.0.2.1:8080")},
		{"v6", netip.MustParseAddrPort("[2001:db8::1]:443")},
		{"v6 zone", netip.MustParseAddrPort("[fe80::1%eth0]:1")},
		{"v4 in v6", netip.AddrPortFrom(netip.MustParseAddr("::ffff:192.0.2.1"), 80)},
		{"port 0", netip.MustParseAddrPort("127.0.0.1:0")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := string(appendAddrPort(nil, tt.in)), tt.in.String(); got != want {
				t.Errorf("appendAddrPort = %q, want %q", got, want)
			}
		})
	}
}
