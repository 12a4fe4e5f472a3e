package tunnel

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Kept pipes are reused while in use and closed after a sweep period with
// no use, so their fds return after traffic stops.
func TestPipesClosedWhenUnused(t *testing.T) {
	p := getPipe()
	if p == nil {
		t.Fatal("no pipe")
	}
	putPipe(p)
	if q := getPipe(); q != p {
		t.Fatalf("got another pipe (%v), want the one kept (%v)", q, p)
	}
	putPipe(p)
	isOpen := func(fd int) bool {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		return err == nil
	}
	sweepPipes() // used since the last sweep: kept
	if !isOpen(p.r) || !isOpen(p.w) {
		t.Fatal("pipe closed by the sweep right after its use")
	}
	sweepPipes() // unused for a whole period: closed
	if isOpen(p.r) || isOpen(p.w) {
		t.Fatal("pipe still open after a sweep period without use")
	}
	pipes.mu.Lock()
	defer pipes.mu.Unlock()
	if len(pipes.free) != 0 || pipes.sweep != nil {
		t.Errorf("%d pipes kept, timer %v: want none", len(pipes.free), pipes.sweep)
	}
}
