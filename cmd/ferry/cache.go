package main

import (
	"reflect"

	"github.com/ferry-proxy/ferry/cache"
	"github.com/ferry-proxy/ferry/internal/config"
	"github.com/rs/zerolog"
)

// newCache opens the cache the [cache] table describes; nil when it is
// off. The disk store's index is rebuilt here, before ferry listens.
func newCache(cfg cache.Config, logger zerolog.Logger) (*cache.Cache, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	cfg.OnError = func(op string, err error) {
		logger.Warn().Str("op", op).Err(err).Msg("cache")
	}
	c, err := cache.New(cfg)
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
	if !reflect.DeepEqual(old.Cache, cfg.Cache) {
		a.log.Warn().Msg("cache: [cache] changes take effect at the next start, not on reload")
	}
}
