// Package ferry holds what the ferry binary embeds from the top of the
// repository; the code lives in the packages below it.
package ferry

import _ "embed"

// DefaultConfig is config.toml.example: the config ferry runs without
// -config, so the documented example and the default cannot drift apart.
//
//go:embed config.toml.example
var DefaultConfig []byte
