//go:build !linux

package tunnel

import (
	"net"
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

func (h *half) copyFromTCP(dst Stream, src *net.TCPConn) (err error, handled bool) {
	return nil, false
}

type splicer struct{}
