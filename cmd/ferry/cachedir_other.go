//go:build !unix

package main

// writableDir cannot tell without writing a file: it reports nothing, and
// ferry's start says what is wrong.
func writableDir(string) error { return nil }
