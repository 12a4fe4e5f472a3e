package main

import (
	"os"
	"slices"
	"testing"
)

const statusSample = `Name:	ferry
Umask:	0022
State:	S (sleeping)
VmPeak:	 2080444 kB
VmRSS:	   20132 kB
RssAnon:	    9876 kB
Threads:	7
`

func TestParseKiB(t *testing.T) {
	tests := []struct {
		name, in, key string
		want          int64
		wantErr       bool
	}{
		{"status VmRSS", statusSample, "VmRSS:", 20132, false},
		{"smaps_rollup Pss", "00400000-7ffd rw-p 00000000 00:00 0 [rollup]\nRss:  100 kB\nPss:   61 kB\n", "Pss:", 61, false},
		{"missing (a zombie)", "Name:\tx\nState:\tZ (zombie)\n", "VmRSS:", 0, true},
		{"not kB", "VmRSS:\t12 MB\n", "VmRSS:", 0, true},
		{"not a number", "VmRSS:\tlots kB\n", "VmRSS:", 0, true},
		{"prefix of another key is not it", "VmRSSX:\t5 kB\nVmRSS:\t6 kB\n", "VmRSS:", 6, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseKiB([]byte(tt.in), tt.key)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseKiB = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseStatPPID(t *testing.T) {
	tests := []struct {
		name, in string
		want     int
		wantErr  bool
	}{
		{"plain", "1234 (ferry) S 1 1234 1234 0 -1 4194560", 1, false},
		{"comm with space and parens", "77 (a) b) (c) R 42 77 77 0", 42, false},
		{"truncated", "77 (x) R", 0, true},
		{"no parens", "77 x R 1", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatPPID([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStatPPID = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

const tcpSample = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 51234 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 51235 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F90 0100007F:A2B4 01 00000000:00000000 00:00000000 00000000     0        0 51299 1 0000000000000000 20 4 30 10 -1
`

const tcp6Sample = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 61000 1 0000000000000000 100 0 0 10 0
`

func TestParseListenInodes(t *testing.T) {
	tests := []struct {
		name, in string
		port     int
		want     []uint64
	}{
		{"listener, not the established conn on the same port", tcpSample, 8080, []uint64{51234}},
		{"other port", tcpSample, 8081, []uint64{51235}},
		{"nobody", tcpSample, 9999, nil},
		{"tcp6", tcp6Sample, 8080, []uint64{61000}},
		{"header only", "  sl  local_address\n", 8080, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseListenInodes([]byte(tt.in), tt.port); !slices.Equal(got, tt.want) {
				t.Errorf("parseListenInodes = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestIdleFit(t *testing.T) {
	tests := []struct {
		name        string
		limit       uint64
		open, want  int
		wantTunnels int
	}{
		{"hard limit 20000 allows fewer than 10000", 20000, 10, 10000, 9931},
		{"plenty", 1 << 20, 10, 10000, 10000},
		{"tiny limit", 100, 10, 10000, 0},
		{"infinite limit does not overflow", ^uint64(0), 10, 10000, 10000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := idleFit(tt.limit, tt.open, tt.want); got != tt.wantTunnels {
				t.Errorf("idleFit = %d, want %d", got, tt.wantTunnels)
			}
		})
	}
}

// The real /proc of this test process: it is in its own tree and holds fds.
func TestTreeUsageSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	u, err := treeUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.rssKiB <= 0 || u.fds < 3 || u.procs < 1 {
		t.Errorf("treeUsage(self) = %+v, want RSS > 0, ≥ 3 fds, ≥ 1 process", u)
	}
}

func FuzzProcParsers(f *testing.F) {
	for _, s := range []string{statusSample, tcpSample, tcp6Sample, "77 (a) b) (c) R 42 77"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		parseKiB(b, "VmRSS:")
		parseStatPPID(b)
		for _, ino := range parseListenInodes(b, 8080) {
			_ = ino
		}
	})
}
