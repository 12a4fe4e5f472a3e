//go:build !unix

package main

// openFileLimit is unknown here: the limits stay as configured.
func openFileLimit() uint64 { return 0 }
