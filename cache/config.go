package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Config is the [cache] table, and what only code sets. The zero values
// of a literal Config mean "off" or the default stated; a config file's
// defaults are SetDefaults'.
type Config struct {
	Enabled       bool   `toml:"enabled"`         // the caller opens a cache only when true (New ignores it); default false
	MemoryBytes   int64  `toml:"memory_bytes"`    // memory store budget; default 64 MiB; 0: no memory store
	DiskDir       string `toml:"disk_dir"`        // disk store directory, absolute; default "": no disk store
	DiskBytes     int64  `toml:"disk_bytes"`      // disk store budget; must be positive with DiskDir; default 1 GiB
	MaxObjectSize int64  `toml:"max_object_size"` // bodies larger than this pass through unstored; default 16 MiB

	CollapseWaiters int           `toml:"-"` // requests that may wait on one origin fetch; default 64
	CollapseWait    time.Duration `toml:"-"` // how long they wait for its response head; default 10s
	// StaleIfUnreachable is how long past its freshness a stored response
	// may be served when the origin cannot be reached at all (refused,
	// reset, timed out: RFC 9111 §4.2.4's "disconnected") and no
	// directive forbids it; default 24h, 0 never. stale-if-error (RFC
	// 5861) allows more, and for 5xx answers too.
	StaleIfUnreachable time.Duration              `toml:"stale_if_unreachable"`
	Now                func() time.Time           `toml:"-"` // the clock; default time.Now (tests inject one)
	OnError            func(op string, err error) `toml:"-"`
}

// Defaults of a config file's [cache].
const (
	DefaultMemoryBytes   = 64 << 20
	DefaultDiskBytes     = 1 << 30
	DefaultMaxObjectSize = 16 << 20
	// DefaultStaleIfUnreachable is the default of Config.StaleIfUnreachable.
	DefaultStaleIfUnreachable = 24 * time.Hour
)

// SetDefaults sets every field to its default.
func (c *Config) SetDefaults() {
	*c = Config{MemoryBytes: DefaultMemoryBytes, DiskBytes: DefaultDiskBytes, MaxObjectSize: DefaultMaxObjectSize,
		StaleIfUnreachable: DefaultStaleIfUnreachable}
}

// Validate reports each bad field to report, by its key. With the cache
// enabled, it asks the system whether DiskDir can be created and written
// (New creates it), writing nothing: a probe file left in the directory
// would make New refuse it as not a cache directory.
func (c *Config) Validate(report func(key, msg string)) {
	if c.MemoryBytes < 0 {
		report("memory_bytes", "must not be negative")
	}
	if c.DiskBytes < 0 {
		report("disk_bytes", "must not be negative")
	}
	if c.MaxObjectSize <= 0 {
		report("max_object_size", "must be positive")
	}
	if c.StaleIfUnreachable < 0 {
		report("stale_if_unreachable", "must not be negative (0s: never)")
	}
	if c.DiskDir != "" {
		if !filepath.IsAbs(c.DiskDir) {
			report("disk_dir", "must be an absolute path, not "+c.DiskDir)
		} else if c.Enabled {
			if err := creatable(c.DiskDir); err != nil {
				report("disk_dir", fmt.Sprintf("%q cannot be created or written: %v", c.DiskDir, err))
			} else if _, err := claimable(c.DiskDir); err != nil {
				report("disk_dir", err.Error())
			}
		}
		if c.DiskBytes == 0 {
			report("disk_bytes", "must be positive with disk_dir")
		}
	}
	if c.Enabled && c.MemoryBytes == 0 && c.DiskDir == "" {
		report("enabled", "true, but memory_bytes is 0 and there is no disk_dir: nowhere to store")
	}
}

// creatable tells why dir cannot be created or written, asking the
// system about dir or its nearest existing parent (under systemd, only
// CacheDirectory= makes /var/cache/ferry writable).
func creatable(dir string) error {
	for {
		fi, err := os.Stat(dir)
		if err == nil && !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || filepath.Dir(dir) == dir {
			return err
		}
		dir = filepath.Dir(dir)
	}
	if err := writableDir(dir); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	return nil
}
