package accesslog

import (
	"fmt"
	"os"
	"sync"
)

// File is an access-log file opened for appending. Reopen opens the path
// again, so that a rotation tool can rename the file and signal ferry
// (SIGUSR1) instead of copying and truncating it: every line goes whole
// to either the old file or the new one, none is lost or split.
type File struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenFile opens (creating, mode 0640) path for appending.
func OpenFile(path string) (*File, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	return &File{path: path, f: f}, nil
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

// Write appends p, one line, with one write(2).
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.f.Write(p)
}

// Reopen opens the path again and switches to it. If that fails, writing
// goes on to the file already open and the error is returned.
func (f *File) Reopen() error {
	nf, err := openAppend(f.path)
	if err != nil {
		return err
	}
	f.mu.Lock()
	old := f.f
	f.f = nf
	f.mu.Unlock()
	return old.Close()
}

// Close closes the file; later writes fail.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.f.Close()
}
