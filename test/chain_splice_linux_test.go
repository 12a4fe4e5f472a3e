package test

import (
	"fmt"
	"testing"
)

// TestChainSpliceStrace: a ferry whose tunnels go through an HTTP upstream
// (another ferry) still moves their payload by splice(2): it reads the
// upstream's answer to CONNECT without taking a byte past it, so both
// ends of its relay are sockets. strace on the real binary sums what each
// syscall moved, as TestSpliceStrace does for a single ferry.
func TestChainSpliceStrace(t *testing.T) {
	parent := startFerry(t, plainParent)
	child := startFerry(t, childConfig(fmt.Sprintf(`
[[upstream]]
name = "parent"
url = "http://%s"
[routing]
default = "parent"
[limits]
shutdown_grace = "2s"
`, parent.Addr)))
	checkSplice(t, child, tunnelKinds, tcpOrigin(t, hashEchoOrigin), func(kind string, ev Event) {
		if ev.Str("upstream") != "parent" {
			t.Fatalf("%s went %v, not through the upstream", kind, ev)
		}
	})
}
