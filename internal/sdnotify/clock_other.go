//go:build !unix

package sdnotify

func monotonicUsec() (int64, bool) { return 0, false }
