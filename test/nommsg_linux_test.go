package test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// envExecWithoutMMsg, set to a command line (arguments separated by the
// unit separator, 0x1f), makes the
// test binary exec that command with sendmmsg(2) and recvmmsg(2) failing
// as ENOSYS (a seccomp filter), as on a system without them.
//
// Why: dig (BIND 9.18 on libuv) sends its query with sendmmsg, which
// Dante's socksify (libdsocks 1.4) does not intercept, so through socksify
// the query would reach the SOCKS relay with no SOCKS header. libuv
// probes sendmmsg once and, told it is missing, sends with sendmsg, which
// socksify wraps. The query, the DNS server and ferry are unchanged.
const envExecWithoutMMsg = "FERRY_TEST_EXEC_WITHOUT_MMSG"

// execWithoutMMsg runs in TestMain when the variable is set: it never
// returns.
func execWithoutMMsg(cmdline string) {
	args := strings.Split(cmdline, "\x1f")
	const auditArchX8664 = 0xc000003e
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4}, // seccomp_data.arch
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 4, K: auditArchX8664},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 2, K: unix.SYS_SENDMMSG},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 1, K: unix.SYS_RECVMMSG},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "exec without sendmmsg:", err)
		os.Exit(127)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fail(err)
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog))); e != 0 {
		fail(e)
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		fail(err)
	}
	os.Unsetenv(envExecWithoutMMsg)
	fail(unix.Exec(path, args, os.Environ()))
}
