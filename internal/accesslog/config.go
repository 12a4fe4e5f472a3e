package accesslog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is where and how access events are written: the access keys of
// the [log] table.
type Config struct {
	Access string        `toml:"access"`        // Stderr or a file path; default Stderr
	Format string        `toml:"access_format"` // FormatJSON, FormatConsole or FormatSquid; default: the server log's format
	Flush  time.Duration `toml:"access_flush"`  // a file's lines are written together this often; default 100ms; 0: each at once
}

// Destinations and formats.
const (
	Stderr        = "stderr"
	FormatJSON    = "json"
	FormatConsole = "console"
	FormatSquid   = "squid"
)

// DefaultFlush is the default of Config.Flush.
const DefaultFlush = 100 * time.Millisecond

// SetDefaults sets every field to its default (Format stays "": its
// default is the server log's format, which the caller fills in).
func (c *Config) SetDefaults() { *c = Config{Access: Stderr, Flush: DefaultFlush} }

// Validate reports each bad field to report, by its key. A file must be
// one OpenFile can open: an existing file it may write, or a new one in a
// directory it may write in (asked of the system; nothing is created).
func (c *Config) Validate(report func(key, msg string)) {
	if strings.TrimSpace(c.Access) != c.Access || strings.ContainsAny(c.Access, "\x00\n") || c.Access == "" {
		report("access", fmt.Sprintf("must be \"stderr\" or a file path, not %q", c.Access))
	} else if c.Access != Stderr {
		if err := openable(c.Access); err != nil {
			report("access", fmt.Sprintf("cannot open %q: %v", c.Access, err))
		}
	}
	if c.Flush < 0 || c.Flush > time.Minute {
		report("access_flush", fmt.Sprintf("must be between 0s (each line at once) and 1m, not %v", c.Flush))
	}
	switch c.Format {
	case FormatJSON, FormatConsole, FormatSquid:
	default:
		report("access_format", fmt.Sprintf("must be json, console or squid, not %q", c.Format))
	}
}

// openable tells why OpenFile would fail on path, without creating it.
func openable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return fmt.Errorf("%s is a directory", path)
	case err == nil:
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		return f.Close()
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("its directory: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if err := writableDir(dir); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	return nil
}
