// Package config loads ferry's TOML configuration strictly: unknown keys,
// wrong types and bad values are errors that name the file and line.
package config
