package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ferry-proxy/ferry/cache"
	"github.com/ferry-proxy/ferry/internal/config"
	"github.com/rs/zerolog"
)

// newCache opens the cache the [cache] table describes; nil when it is
// off. The disk store's index is rebuilt here, before ferry listens.
func newCache(cfg config.Cache, logger zerolog.Logger) (*cache.Cache, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	c, err := cache.New(cache.Config{
		MemoryBytes:   cfg.MemoryBytes,
		DiskDir:       cfg.DiskDir,
		DiskBytes:     cfg.DiskBytes,
		MaxObjectSize: cfg.MaxObjectSize,
		OnError: func(op string, err error) {
			logger.Warn().Str("op", op).Err(err).Msg("cache")
		},
	})
	if err != nil {
		return nil, err
	}
	st := c.Stats()
	logger.Info().Int64("memory_bytes", cfg.MemoryBytes).Str("disk_dir", cfg.DiskDir).
		Int64("disk_bytes", cfg.DiskBytes).Int("disk_objects", st.DiskObjects).
		Int64("max_object_size", cfg.MaxObjectSize).Msg("cache")
	return c, nil
}

// closeCache waits for the cache's disk writes under way.
func (a *app) closeCache() {
	if a.cache != nil {
		a.cache.Close()
	}
}

// noteCacheReload says that [cache] changes wait for a restart: the stores
// (and the directory's index) are opened once.
func (a *app) noteCacheReload(old, cfg *config.File) {
	if old.Cache != cfg.Cache {
		a.log.Warn().Msg("cache: [cache] changes take effect at the next start, not on reload")
	}
}

// cacheDirWarning says, for ferry check, that the disk store's directory
// cannot be created or written: ferry creates it at start and refuses to
// start when it cannot (under the systemd unit, only CacheDirectory= makes
// /var/cache/ferry writable). It writes nothing: a probe file left in the
// directory would make ferry refuse it as not a cache directory. It asks
// access(2) about the directory, or its nearest existing parent.
func cacheDirWarning(c config.Cache) string {
	if !c.Enabled || c.DiskDir == "" {
		return ""
	}
	warn := func(err error) string {
		return fmt.Sprintf("cache.disk_dir %q cannot be created or written: %v", c.DiskDir, err)
	}
	dir := c.DiskDir
	for {
		fi, err := os.Stat(dir)
		if err == nil && !fi.IsDir() {
			return warn(fmt.Errorf("%s is not a directory", dir))
		}
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || filepath.Dir(dir) == dir {
			return warn(err)
		}
		dir = filepath.Dir(dir)
	}
	if err := writableDir(dir); err != nil {
		return warn(fmt.Errorf("%s: %w", dir, err))
	}
	return ""
}
