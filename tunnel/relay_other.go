//go:build !linux

package tunnel

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// SplicedChunks reports how many relay reads used splice(2): none off Linux.
func SplicedChunks() int64 { return 0 }

// ParkedDirections reports none: off Linux, directions do not park.
func ParkedDirections() int { return 0 }

// parkAfter is zero: off Linux, directions do not park.
var parkAfter time.Duration

func (h *half) splicePump(dst, src *net.TCPConn) (err error, handled, parked bool) {
	return nil, false, false
}

func (h *half) unpark() {}

func (h *half) copyFromTCP(dst Stream, src *net.TCPConn) (err error, handled, parked bool) {
	return nil, false, false
}

// Off Linux a direction never parks: it waits on its read, its deadlines
// the relay's.
var errPark = errors.New("park")

func parkWatch(Stream) syscall.RawConn            { return nil }
func (h *half) parkIt(syscall.RawConn) bool       { return false }
func (h *half) resumed() error                    { return nil }
func (h *half) touch()                            { h.r.touch() }
func (h *half) arm(src Stream) error              { return h.r.arm(src) }
func (h *half) rearm(src Stream, err error) error { return h.r.rearm(src, err) }
func (h *half) neverPark(src Stream) error        { return h.arm(src) }

type splicer struct{}
