package test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// envExecFamilies, set to a comma-separated list of address families
// (AF_INET,AF_UNIX), makes the test binary exec its own arguments with
// socket(2) refused (EAFNOSUPPORT) for every other family, a seccomp
// filter doing what systemd's RestrictAddressFamilies= does. Run ferry
// under it with startFerryUnder(t, []string{os.Args[0]}, ...).
const envExecFamilies = "FERRY_TEST_EXEC_FAMILIES"

// addressFamilies are the names RestrictAddressFamilies= takes that a
// test may use.
var addressFamilies = map[string]uint32{
	"AF_UNIX": unix.AF_UNIX, "AF_INET": unix.AF_INET, "AF_INET6": unix.AF_INET6,
	"AF_NETLINK": unix.AF_NETLINK, "AF_PACKET": unix.AF_PACKET,
}

// familiesFilterable: the filter knows this architecture's audit value.
func familiesFilterable() bool { return auditArch() != 0 }

func auditArch() uint32 {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64
	}
	return 0
}

// execWithFamilies runs in TestMain when the variable is set: it never
// returns.
func execWithFamilies(list string, args []string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "exec with address families", list+":", err)
		os.Exit(127)
	}
	var fams []uint32
	for _, name := range strings.Split(list, ",") {
		f, ok := addressFamilies[name]
		if !ok {
			fail(fmt.Errorf("unknown family %q", name))
		}
		fams = append(fams, f)
	}
	if len(args) == 0 || auditArch() == 0 {
		fail(fmt.Errorf("nothing to run, or no filter for %s", runtime.GOARCH))
	}
	// Instructions: 0 arch, 1 jump, 2 nr, 3 jump, 4 family, 5.. one jump
	// per allowed family, then refuse, then allow.
	n := len(fams)
	allow := uint8(6 + n)
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4}, // seccomp_data.arch
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jf: allow - 2, K: auditArch()},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jf: allow - 4, K: unix.SYS_SOCKET},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 16}, // args[0], its low half (little-endian)
	}
	for i, f := range fams {
		filter = append(filter, unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: uint8(n - i), K: f})
	}
	filter = append(filter,
		unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EAFNOSUPPORT)},
		unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW})
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	// The filter is the calling thread's, and exec keeps the caller's.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fail(err)
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog))); e != 0 {
		fail(e)
	}
	os.Unsetenv(envExecFamilies)
	fail(unix.Exec(args[0], args, os.Environ()))
}
