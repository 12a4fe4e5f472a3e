package accesslog

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// File is an access-log file opened for appending. Reopen opens the path
// again, so that a rotation tool can rename the file and signal ferry
// (SIGUSR1) instead of copying and truncating it: every line goes whole
// to either the old file or the new one, none is lost or split.
//
// With a flush interval, lines are gathered in memory and written
// together at most that long after the first of them (or when 64 KiB are
// waiting): one write(2) per request is a tenth of what a plain-HTTP
// request costs ferry in system calls (issue 9). Close and Reopen write
// what waits first, so a stop, reload or rotation loses nothing; a crash
// loses at most the last interval.
type File struct {
	path    string
	flush   time.Duration // 0: every line is written at once
	onError func(error)   // a write that failed after Write returned

	mu      sync.Mutex
	f       *os.File
	buf     []byte
	timer   *time.Timer
	pending bool // the timer is set to flush buf
}

// fileBuffer is the most a File gathers before it writes.
const fileBuffer = 64 << 10

// OpenFile opens (creating, mode 0640) path for appending. flush is how
// long lines may wait to be written together (0: not at all); onError,
// if not nil, hears of writes that failed after Write returned.
func OpenFile(path string, flush time.Duration, onError func(error)) (*File, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	return &File{path: path, f: f, flush: flush, onError: onError}, nil
}

func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	return f, nil
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// Write appends p, one line: at once with one write(2), or with the lines
// that wait (see File).
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.flush <= 0 {
		return f.f.Write(p)
	}
	if len(f.buf)+len(p) > fileBuffer {
		f.writeLocked()
		if len(p) > fileBuffer {
			return f.f.Write(p)
		}
	}
	f.buf = append(f.buf, p...)
	if !f.pending {
		f.pending = true
		if f.timer == nil {
			f.timer = time.AfterFunc(f.flush, f.Flush)
		} else {
			f.timer.Reset(f.flush)
		}
	}
	return len(p), nil
}

// Flush writes the lines that wait.
func (f *File) Flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writeLocked()
}

func (f *File) writeLocked() {
	f.pending = false
	if len(f.buf) == 0 {
		return
	}
	_, err := f.f.Write(f.buf)
	f.buf = f.buf[:0]
	if err != nil && f.onError != nil {
		f.onError(fmt.Errorf("access log %s: %w", f.path, err))
	}
}

// Reopen writes the lines that wait, then opens the path again and
// switches to it. If that fails, writing goes on to the file already open
// and the error is returned.
func (f *File) Reopen() error {
	nf, err := openAppend(f.path)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.writeLocked()
	old := f.f
	f.f = nf
	f.mu.Unlock()
	return old.Close()
}

// Close writes the lines that wait and closes the file; later writes fail.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writeLocked()
	if f.timer != nil {
		f.timer.Stop()
	}
	f.flush = 0 // a late line fails on the closed file instead of waiting
	return f.f.Close()
}
