package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/cache"
)

func TestCacheConfig(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want cache.Config // when valid
		err  string       // a substring of the error, with file:line
	}{
		{"absent: defaults, off", "", cache.Config{MemoryBytes: 64 << 20, DiskBytes: 1 << 30, MaxObjectSize: 16 << 20, StaleIfUnreachable: 24 * time.Hour}, ""},
		{"memory only", "[cache]\nenabled = true\n", cache.Config{Enabled: true, MemoryBytes: 64 << 20, DiskBytes: 1 << 30, MaxObjectSize: 16 << 20, StaleIfUnreachable: 24 * time.Hour}, ""},
		{"stale never", "[cache]\nstale_if_unreachable = \"0s\"\n", cache.Config{MemoryBytes: 64 << 20, DiskBytes: 1 << 30, MaxObjectSize: 16 << 20}, ""},
		{"stale negative", "[cache]\nstale_if_unreachable = \"-1s\"\n", cache.Config{}, "stale_if_unreachable"},
		{"disk", "[cache]\nenabled = true\nmemory_bytes = 0\ndisk_dir = \"/var/cache/ferry\"\ndisk_bytes = 1000\nmax_object_size = 100\n",
			cache.Config{Enabled: true, DiskDir: "/var/cache/ferry", DiskBytes: 1000, MaxObjectSize: 100, StaleIfUnreachable: 24 * time.Hour}, ""},
		{"relative disk_dir", "[cache]\nenabled = true\ndisk_dir = \"cache\"\n", cache.Config{}, "c.toml:3: cache.disk_dir: must be an absolute path"},
		{"negative memory", "[cache]\n\nmemory_bytes = -1\n", cache.Config{}, "c.toml:3: cache.memory_bytes: must not be negative"},
		{"zero max object", "[cache]\nmax_object_size = 0\n", cache.Config{}, "c.toml:2: cache.max_object_size: must be positive"},
		{"disk without budget", "[cache]\ndisk_dir = \"/c\"\ndisk_bytes = 0\n", cache.Config{}, "c.toml:3: cache.disk_bytes: must be positive with disk_dir"},
		{"nowhere to store", "[cache]\nenabled = true\nmemory_bytes = 0\n", cache.Config{}, "c.toml:2: cache.enabled: true, but memory_bytes is 0"},
		{"unknown key", "[cache]\nsize = 5\n", cache.Config{}, "c.toml:2: cache.size: unknown key"},
		{"wrong type", "[cache]\nmemory_bytes = \"64MiB\"\n", cache.Config{}, "c.toml:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("c.toml", []byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f.Cache, tt.want) {
				t.Errorf("got %+v, want %+v", f.Cache, tt.want)
			}
		})
	}
}
