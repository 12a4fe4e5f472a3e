package main

import (
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// progress is the one line on stderr that says what runs now. On a
// terminal it is rewritten in place; otherwise each figure gets a line.
type progress struct {
	w   io.Writer
	tty bool
}

func newProgress(f *os.File, quiet bool) *progress {
	if quiet {
		return &progress{w: io.Discard}
	}
	st, err := f.Stat()
	return &progress{w: f, tty: err == nil && st.Mode()&os.ModeCharDevice != 0}
}

// update shows what runs now (a terminal only).
func (p *progress) update(label, status string) {
	if p.tty {
		io.WriteString(p.w, "\r\033[K"+label+"  "+status)
	}
}

// done shows a finished figure.
func (p *progress) done(label, result string) {
	prefix := ""
	if p.tty {
		prefix = "\r\033[K"
	}
	io.WriteString(p.w, prefix+label+"  "+result+"\n")
}

// window is a measurement's time frame: a warm-up (tunnels opening, TCP
// windows growing) is excluded, then duration is measured.
type window struct{ start, end time.Time }

func newWindow(warmup, d time.Duration) window {
	s := time.Now().Add(warmup)
	return window{start: s, end: s.Add(d)}
}

// watch sleeps until t, showing count's rate every 250 ms with label.
func (p *progress) watch(until time.Time, label string, count *atomic.Int64, format func(float64) string) {
	last, lastT := count.Load(), time.Now()
	for {
		left := time.Until(until)
		if left <= 0 {
			return
		}
		time.Sleep(min(left, 250*time.Millisecond))
		c, t := count.Load(), time.Now()
		rate := float64(c-last) / t.Sub(lastT).Seconds()
		last, lastT = c, t
		p.update(label, format(rate)+strings.Repeat(".", int(t.Unix()%4)))
	}
}
