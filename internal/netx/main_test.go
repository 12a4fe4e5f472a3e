package netx

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const bound = 10 * time.Second
