package netx

import (
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// A deadline that passes fails the blocked Read, and a later one lets
// reading go on with nothing lost: the relay's idle rearm needs that of
// every stream (an HTTP/2 stream's own deadline would end it).
func TestDeadlineReaderResumesAfterDeadline(t *testing.T) {
	pr, pw := io.Pipe()
	d := NewDeadlineReader(pr, 16, 16)
	defer d.Close()
	defer pw.Close()
	buf := make([]byte, 64)
	d.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if n, err := d.Read(buf); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("silent source: read %d, %v; want the deadline error", n, err)
	}
	d.SetReadDeadline(time.Now().Add(bound))
	go pw.Write([]byte("after the deadline"))
	got := make([]byte, 0, 64)
	for len(got) < len("after the deadline") {
		n, err := d.Read(buf)
		if err != nil {
			t.Fatalf("read after the deadline moved: %v", err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != "after the deadline" {
		t.Errorf("read %q", got)
	}
}

// The source's end is io.EOF, its failure that error.
func TestDeadlineReaderEnds(t *testing.T) {
	tests := []struct {
		name    string
		failure error
		want    error
	}{
		{"eof", nil, io.EOF},
		{"reset", errors.New("stream reset"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			d := NewDeadlineReader(pr, 16, 16)
			defer d.Close()
			d.SetReadDeadline(time.Now().Add(bound))
			go func() {
				pw.Write([]byte("last"))
				pw.CloseWithError(tt.failure)
			}()
			got, err := io.ReadAll(d)
			if string(got) != "last" {
				t.Errorf("read %q, want %q", got, "last")
			}
			want := tt.want
			if tt.failure != nil {
				want = tt.failure
			}
			if want == io.EOF {
				if err != nil {
					t.Errorf("ReadAll: %v, want a clean end", err)
				}
			} else if !errors.Is(err, want) {
				t.Errorf("ReadAll: %v, want %v", err, want)
			}
		})
	}
}

// Close fails a blocked Read at once, and the goroutine ends once the
// source does (goleak checks).
func TestDeadlineReaderClose(t *testing.T) {
	pr, pw := io.Pipe()
	d := NewDeadlineReader(pr, 16, 16)
	done := make(chan error, 1)
	go func() {
		_, err := d.Read(make([]byte, 8))
		done <- err
	}()
	go pw.Write([]byte("x")) // the goroutine reads it, then finds the pipe closed
	d.Close()
	select {
	case err := <-done:
		if err == nil {
			// The byte may have won the race; the next read must fail.
			if _, err = d.Read(make([]byte, 8)); err == nil {
				t.Fatal("read after Close succeeded")
			}
		}
	case <-time.After(bound):
		t.Fatal("Read still blocked after Close")
	}
	pw.Close()
}

// sizedSource answers reads from chunks, one chunk (or as much of it as
// fits) per read, and records how much each read asked for.
type sizedSource struct {
	chunks [][]byte
	asked  []int
}

func (s *sizedSource) Read(p []byte) (int, error) {
	s.asked = append(s.asked, len(p))
	if len(s.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.chunks[0])
	if s.chunks[0] = s.chunks[0][n:]; len(s.chunks[0]) == 0 {
		s.chunks = s.chunks[1:]
	}
	return n, nil
}

// A source that fills the buffer is read in larger pieces until a read
// comes back short; then the small buffer again, nothing lost.
func TestDeadlineReaderGrowsWhileBusy(t *testing.T) {
	src := &sizedSource{chunks: [][]byte{
		[]byte(strings.Repeat("a", 100)), // fills 16, then 64, then 20 of 64: short
		[]byte("b"),                      // small again
	}}
	d := NewDeadlineReader(src, 16, 64)
	defer d.Close()
	d.SetReadDeadline(time.Now().Add(bound))
	got, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("a", 100) + "b"; string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
	want := []int{16, 64, 64, 16, 16} // the last: EOF
	if !slices.Equal(src.asked, want) {
		t.Errorf("reads asked for %v, want %v", src.asked, want)
	}
}
