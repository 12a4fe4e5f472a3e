package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
)

// The idle test reads a proxy's cost from /proc (Linux): VmRSS from
// /proc/PID/status and the entries of /proc/PID/fd, summed over the
// process and its descendants, since some proxies (dante, squid helpers)
// serve from child processes.

var errNoField = errors.New("field not found")

// parseKiB returns the value of a "Name:   123 kB" line (key "Name:") of
// /proc/PID/status or /proc/PID/smaps_rollup, in KiB.
func parseKiB(data []byte, key string) (int64, error) {
	for line := range bytes.Lines(data) {
		rest, ok := bytes.CutPrefix(line, []byte(key))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("unexpected %q", bytes.TrimSpace(line))
		}
		n, ok := parseUint(f[0])
		if !ok {
			return 0, fmt.Errorf("unexpected %q", bytes.TrimSpace(line))
		}
		return n, nil
	}
	return 0, errNoField
}

// parseStatPPID returns the parent PID from a /proc/PID/stat. The command
// name (field 2) is in parentheses and may itself hold spaces and
// parentheses, so fields are counted after the last ')'.
func parseStatPPID(stat []byte) (int, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errNoField
	}
	f := bytes.Fields(stat[i+1:]) // state, ppid, ...
	if len(f) < 2 {
		return 0, errNoField
	}
	n, ok := parseUint(f[1])
	if !ok {
		return 0, fmt.Errorf("stat: bad ppid %q", f[1])
	}
	return int(n), nil
}

// parseListenInodes returns the socket inodes listening on port in a
// /proc/net/tcp or /proc/net/tcp6 table.
func parseListenInodes(table []byte, port int) []uint64 {
	var inodes []uint64
	first := true
	for line := range bytes.Lines(table) {
		if first { // header
			first = false
			continue
		}
		f := bytes.Fields(line)
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) < 10 || string(f[3]) != "0A" { // 0A: TCP_LISTEN
			continue
		}
		_, hexPort, ok := bytes.Cut(f[1], []byte(":"))
		if !ok {
			continue
		}
		p, ok := parseHex(hexPort)
		if !ok || int(p) != port {
			continue
		}
		if ino, ok := parseUint(f[9]); ok {
			inodes = append(inodes, uint64(ino))
		}
	}
	return inodes
}

// pids lists the numeric entries of /proc.
func pids() ([]int, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	var ps []int
	for _, n := range names {
		if p, err := strconv.Atoi(n); err == nil {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	return ps, nil
}

// pidOfListener finds the process listening on 127.0.0.1:port or [::]:port
// (the lowest PID of those holding the socket: the parent of a forking
// server).
func pidOfListener(port int) (int, error) {
	var inodes []uint64
	for _, t := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if data, err := os.ReadFile(t); err == nil {
			inodes = append(inodes, parseListenInodes(data, port)...)
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("no listening socket on port %d", port)
	}
	want := map[string]bool{}
	for _, ino := range inodes {
		want["socket:["+strconv.FormatUint(ino, 10)+"]"] = true
	}
	ps, err := pids()
	if err != nil {
		return 0, err
	}
	self := os.Getpid()
	for _, p := range ps {
		if p == self {
			continue
		}
		dir := "/proc/" + strconv.Itoa(p) + "/fd/"
		d, err := os.Open(dir)
		if err != nil {
			continue
		}
		names, _ := d.Readdirnames(-1)
		d.Close()
		for _, n := range names {
			if l, err := os.Readlink(dir + n); err == nil && want[l] {
				return p, nil
			}
		}
	}
	return 0, fmt.Errorf("port %d: listening socket found but no process holding it (another user's?)", port)
}

// tree returns pid and its descendants.
func tree(pid int) []int {
	ps, err := pids()
	if err != nil {
		return []int{pid}
	}
	children := map[int][]int{}
	for _, p := range ps {
		if data, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat"); err == nil {
			if pp, err := parseStatPPID(data); err == nil {
				children[pp] = append(children[pp], p)
			}
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// usage is a process tree's resident memory and open files.
type usage struct {
	rssKiB int64 // VmRSS of a lone process; the sum of Pss over a tree
	fds    int
	procs  int
}

// treeUsage sums the usage of pid and its descendants. For one process
// memory is its VmRSS. A forking server's children share most pages, so
// summing their RSS would count those once per child: over a tree it sums
// Pss (each shared page split among its sharers) from smaps_rollup.
func treeUsage(pid int) (usage, error) {
	var u usage
	ps := tree(pid)
	for i, p := range ps {
		dir := "/proc/" + strconv.Itoa(p)
		file, key := "/status", "VmRSS:"
		if len(ps) > 1 {
			file, key = "/smaps_rollup", "Pss:"
		}
		data, err := os.ReadFile(dir + file)
		if err != nil {
			if i == 0 {
				return u, err
			}
			continue // a child that just exited
		}
		rss, err := parseKiB(data, key)
		if err != nil {
			continue // a zombie has no memory lines
		}
		d, err := os.Open(dir + "/fd")
		if err != nil {
			if i == 0 {
				return u, err
			}
			continue
		}
		names, _ := d.Readdirnames(-1)
		d.Close()
		u.rssKiB += rss
		u.fds += len(names)
		u.procs++
	}
	return u, nil
}
