//go:build unix

package main

import "syscall"

// openFileLimit is the soft RLIMIT_NOFILE (which Go raises to the hard
// one at start); 0 when it cannot be read.
func openFileLimit() uint64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil || rl.Cur >= 1<<62 {
		return 0
	}
	return rl.Cur
}
