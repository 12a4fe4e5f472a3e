//go:build unix

package accesslog

import "syscall"

// writableDir reports why files cannot be created in dir, or nil.
// access(2) answers for this process's user and sees read-only mounts
// (EROFS), such as ProtectSystem=strict's, even for root.
func writableDir(dir string) error {
	const wOK, xOK = 2, 1 // W_OK, X_OK
	return syscall.Access(dir, wOK|xOK)
}
