package front

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: a relay or handler still
// running after its conns were closed is a bug.
//
// The relay's parking poller (tunnel/park_linux.go) is one goroutine for
// the life of the process, started by the first tunnel that parks.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/ferry-proxy/ferry/tunnel.pollParked"))
}
