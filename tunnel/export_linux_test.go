package tunnel

import "time"

// ParkAggressively makes every silent direction of a Start relay park
// after d, and calls onPark each time one does, until the returned func
// restores the defaults.
func ParkAggressively(d time.Duration, onPark func()) (restore func()) {
	old := parkAfter
	parkAfter = d
	parkHook.Store(&onPark)
	return func() {
		parkAfter = old
		parkHook.Store(nil)
	}
}

// CopiedFromTCP reports the chunks copyFromTCP has moved.
func CopiedFromTCP() int64 { return copiedFromTCP.Load() }
