package config

import "path/filepath"

// Cache is the [cache] table: ferry's shared HTTP cache (RFC 9111) for
// plain-HTTP forward requests. CONNECT tunnels are never cached.
type Cache struct {
	Enabled       bool   `toml:"enabled"`         // default false
	MemoryBytes   int64  `toml:"memory_bytes"`    // memory store budget; default 64 MiB; 0: none
	DiskDir       string `toml:"disk_dir"`        // disk store directory, absolute; default "": none
	DiskBytes     int64  `toml:"disk_bytes"`      // disk store budget; default 1 GiB
	MaxObjectSize int64  `toml:"max_object_size"` // larger bodies pass through unstored; default 16 MiB
}

func defaultCache() Cache {
	return Cache{MemoryBytes: 64 << 20, DiskBytes: 1 << 30, MaxObjectSize: 16 << 20}
}

// validateCache checks the [cache] table.
func validateCache(c *Cache) []problem {
	var ps []problem
	add := func(key, msg string) { ps = append(ps, problem{"cache." + key, msg}) }
	if c.MemoryBytes < 0 {
		add("memory_bytes", "must not be negative")
	}
	if c.DiskBytes < 0 {
		add("disk_bytes", "must not be negative")
	}
	if c.MaxObjectSize <= 0 {
		add("max_object_size", "must be positive")
	}
	if c.DiskDir != "" {
		if !filepath.IsAbs(c.DiskDir) {
			add("disk_dir", "must be an absolute path, not "+c.DiskDir)
		}
		if c.DiskBytes == 0 {
			add("disk_bytes", "must be positive with disk_dir")
		}
	}
	if c.Enabled && c.MemoryBytes == 0 && c.DiskDir == "" {
		add("enabled", "true, but memory_bytes is 0 and there is no disk_dir: nowhere to store")
	}
	return ps
}
