package front

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: a relay or handler still
// running after its conns were closed is a bug.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
