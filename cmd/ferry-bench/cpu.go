package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// The CPU figures are the proxy's own user and system time over a
// measured window, from /proc/PID/stat summed over its process tree (as
// the idle test sums RSS), divided by the work done in that window: µs
// per tunnel, µs per request, ms per GiB. Unlike a rate, this does not
// depend on how the two cores are shared with the load tool and the
// origins (issue 19 item 1).

// clockTick is the unit of /proc/PID/stat's times: USER_HZ, 100 on every
// Linux ABI Go runs on (sysconf(_SC_CLK_TCK) is a constant of the ABI).
const clockTick = 10 * time.Millisecond

// parseStatCPU returns the CPU time in a /proc/PID/stat: utime and stime
// (fields 14 and 15), the process's own user and system time over all its
// threads, and cutime and cstime (16 and 17), that of the children it has
// reaped, so a forking server's finished workers still count.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errNoField
	}
	f := bytes.Fields(stat[i+1:]) // field 3 (state) is f[0]
	if len(f) < 15 {
		return 0, errNoField
	}
	var ticks int64
	for _, v := range f[11:15] { // fields 14-17
		n, ok := parseUint(v)
		if !ok {
			return 0, fmt.Errorf("stat: bad time %q", v)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// treeCPU is the CPU time pid and its live descendants have used, with
// the children each has reaped: a process that exits between two readings
// moves from its own line to its parent's once reaped.
func treeCPU(pid int) (time.Duration, error) {
	var sum time.Duration
	for i, p := range tree(pid) {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
		if err == nil {
			var d time.Duration
			if d, err = parseStatCPU(data); err == nil {
				sum += d
				continue
			}
		}
		if i == 0 {
			return 0, err
		}
	}
	return sum, nil
}

// cpuUse is the proxy's CPU time over windows, added up.
type cpuUse struct {
	d  time.Duration
	ok bool // every window was read
	n  int  // windows read
}

func (u *cpuUse) add(v cpuUse) {
	if v.n == 0 {
		return
	}
	u.ok = v.ok && (u.ok || u.n == 0)
	u.d += v.d
	u.n += v.n
}

// per returns the CPU time per unit of work, in unit (time.Microsecond
// for µs per tunnel), and whether there is a figure.
func (u cpuUse) per(work float64, unit time.Duration) (float64, bool) {
	if !u.ok || work <= 0 {
		return 0, false
	}
	return float64(u.d) / float64(unit) / work, true
}

// cpuWindow reads pid's CPU time at w.start and w.end on a goroutine of
// its own; the result arrives on the channel after w.end. pid 0 (no
// proxy process known) gives an empty cpuUse at once.
func cpuWindow(pid int, w window) <-chan cpuUse {
	ch := make(chan cpuUse, 1)
	if pid == 0 {
		ch <- cpuUse{}
		return ch
	}
	go func() {
		time.Sleep(time.Until(w.start))
		c0, err0 := treeCPU(pid)
		time.Sleep(time.Until(w.end))
		c1, err1 := treeCPU(pid)
		ch <- cpuUse{d: c1 - c0, ok: err0 == nil && err1 == nil, n: 1}
	}()
	return ch
}
