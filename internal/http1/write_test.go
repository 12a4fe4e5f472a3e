package http1

import (
	"bufio"
	"io"
	"strings"
	"testing"
)

// TestWriteFieldAndStatusLine: the lines come out as HTTP/1.1 wants them,
// and writing them allocates nothing (they are written once per field of
// every message ferry sends).
func TestWriteFieldAndStatusLine(t *testing.T) {
	var sb strings.Builder
	bw := bufio.NewWriter(&sb)
	WriteStatusLine(bw, 200, "OK")
	WriteField(bw, "Cache-Control", "public, max-age=3600, stale-while-revalidate=60")
	bw.Flush()
	if want := "HTTP/1.1 200 OK\r\nCache-Control: public, max-age=3600, stale-while-revalidate=60\r\n"; sb.String() != want {
		t.Errorf("wrote %q, want %q", sb.String(), want)
	}
	bw = bufio.NewWriter(io.Discard)
	allocs := testing.AllocsPerRun(100, func() {
		WriteStatusLine(bw, 404, "Not Found")
		WriteField(bw, "Content-Security-Policy", "default-src 'self'; img-src https://images.example.com")
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations a status line and a field, want 0", allocs)
	}
}
