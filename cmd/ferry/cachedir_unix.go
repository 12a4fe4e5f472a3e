//go:build unix

package main

import "golang.org/x/sys/unix"

// writableDir reports why files cannot be created in dir, or nil.
// access(2) answers for this process's user and sees read-only mounts
// (EROFS), such as ProtectSystem=strict's, even for root.
func writableDir(dir string) error {
	return unix.Access(dir, unix.W_OK|unix.X_OK)
}
