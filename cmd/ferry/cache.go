package main

import (
	"github.com/ferry-proxy/ferry/cache"
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
