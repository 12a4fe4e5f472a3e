package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/internal/config"
)

// Colour only on a terminal, and never with NO_COLOR set (#16 item 5:
// escape codes reached pipes and the journal).
func TestColourOnlyOnTerminals(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	none := func(string) string { return "" }
	noColor := func(k string) string {
		if k == "NO_COLOR" {
			return "1"
		}
		return ""
	}
	if colour(w, none) || colour(&bytes.Buffer{}, none) {
		t.Error("colour on a pipe or a buffer")
	}
	tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no terminal to test with: %v", err)
	}
	defer tty.Close()
	if !colour(tty, none) {
		t.Error("no colour on a terminal")
	}
	if colour(tty, noColor) {
		t.Error("colour on a terminal with NO_COLOR=1")
	}
}

// The console format writes no escape code into a pipe.
func TestConsoleLogPlainInAPipe(t *testing.T) {
	var b bytes.Buffer
	log := newLogger(config.Log{Level: "info", Format: "console"}, &b)
	log.Info().Str("listener", "main").Msg("listening")
	if got := b.String(); !strings.Contains(got, "listening") || strings.Contains(got, "\x1b[") {
		t.Errorf("console line %q: want it plain", got)
	}
}
