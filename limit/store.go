package limit

import (
	"context"
	"errors"
	"time"
)

// CheckKind is what a Check counts.
type CheckKind uint8

// The kinds of check.
const (
	// Slot admits while fewer than Max slots of Key are held; the ticket
	// holds one until Release.
	Slot CheckKind = iota
	// Rate admits while fewer than Max were admitted under Key, a key of
	// one window, which lives for TTL.
	Rate
	// Quota admits while the bytes counted under Key, a key of one
	// period, which lives for TTL, are fewer than Max.
	Quota
)

func (k CheckKind) String() string { return [...]string{"tunnels", "requests", "bytes"}[k] }

// Check is one limit a request must pass.
type Check struct {
	Kind CheckKind
	Key  string
	Max  int64
	TTL  time.Duration // Rate and Quota: how long the key lives
}

// Add is bytes to add to a Quota key.
type Add struct {
	Key string
	N   int64
	TTL time.Duration
}

// Store keeps the counters. The in-process one (memStore) is the default;
// a fleet shares one in Redis (package fleet). Every call of a shared
// store is made under a short deadline (the Limiter's); an error means it
// could not be reached, and the rules' on_store_error decides. A shared
// store watches its own health (a log line and a metric when it changes,
// reconnection with back-off) and, while down, fails at once.
type Store interface {
	// Admit passes checks all or none: when one is over its limit
	// nothing is taken and its index is returned; -1 when all passed,
	// which takes a slot of each Slot check for owner and counts each
	// Rate check.
	Admit(ctx context.Context, owner string, checks []Check) (refused int, err error)
	// Release gives back owner's slots of keys.
	Release(ctx context.Context, owner string, keys []string) error
	// AddBytes adds to quota keys and returns their totals, in order.
	AddBytes(ctx context.Context, adds []Add) ([]int64, error)
	// Refresh tells the store that owner still holds its slots of keys;
	// a shared store lets the slots of a ferry that stopped refreshing
	// (it died) go after a while. Called every RefreshEvery.
	Refresh(ctx context.Context, held map[string][]string) error
}

// ErrNotSent is what a shared store's error Is when it made no call (it
// knows it is down): nothing was taken, nothing needs undoing. Any other
// error leaves the call's outcome unknown: an answer that missed its
// deadline may follow a script that ran.
var ErrNotSent = errors.New("the shared limit store is down: no call made")

// RefreshEvery is how often held slots are refreshed in a shared store,
// which lets a slot go SlotTTL after its last refresh: a ferry killed
// with tunnels open gives their slots back within that.
const (
	RefreshEvery = 10 * time.Second
	SlotTTL      = 3 * RefreshEvery
)
