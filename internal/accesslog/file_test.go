package accesslog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Lines wait for the flush interval, or for Flush, Reopen or Close; a
// rotation puts each line in exactly one of the two files.
func TestFileGathersLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	f, err := OpenFile(path, time.Hour, func(err error) { t.Errorf("write failed: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("one\n"))
	f.Write([]byte("two\n"))
	if got := readFile(t, path); got != "" {
		t.Fatalf("file holds %q before the flush, want nothing yet", got)
	}
	f.Flush()
	if got := readFile(t, path); got != "one\ntwo\n" {
		t.Fatalf("after Flush: %q", got)
	}
	f.Write([]byte("three\n"))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("four\n"))
	big := strings.Repeat("x", fileBuffer+10) + "\n" // over the buffer: written through
	f.Write([]byte(big))
	if got := readFile(t, path); got != "four\n"+big {
		t.Errorf("new file after a line over the buffer: %d bytes, want %d", len(got), len("four\n"+big))
	}
	f.Write([]byte("five\n"))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path+".1"); got != "one\ntwo\nthree\n" {
		t.Errorf("rotated file %q, want the lines written before Reopen", got)
	}
	if got := readFile(t, path); got != "four\n"+big+"five\n" {
		t.Errorf("new file ends %q, want five written by Close", got[max(0, len(got)-10):])
	}
}

// The interval's timer writes the lines without a Flush.
func TestFileFlushesOnItsOwn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	f, err := OpenFile(path, 10*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write([]byte("line\n"))
	deadline := time.Now().Add(5 * time.Second)
	for readFile(t, path) != "line\n" {
		if time.Now().After(deadline) {
			t.Fatal("the line was not written within 5s of a 10ms interval")
		}
		time.Sleep(5 * time.Millisecond) // polling an outcome, bounded above
	}
}

// Without an interval every line is written at once.
func TestFileUnbuffered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	f, err := OpenFile(path, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write([]byte("line\n"))
	if got := readFile(t, path); got != "line\n" {
		t.Errorf("file holds %q, want the line at once", got)
	}
}
