#!/usr/bin/env bash
# ab.sh: two ferry binaries in turns (issue 19 item 4's before/after):
# bench/syscalls.sh on each, ROUNDS times, A then B, so a change in the
# machine's load falls on both. Prints each run's system calls and CPU
# per tunnel (setup) or per request (http).
#
#   bench/ab.sh A_BINARY B_BINARY [--rounds 3] [syscalls.sh flags: --only setup --socks --duration 3s]
set -euo pipefail

[ $# -ge 2 ] || { sed -n '2,7s/^# \{0,1\}//p' "$0"; exit 2; }
a=$(realpath "$1") b=$(realpath "$2")
shift 2
rounds=3
args=()
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift ;;
	*) args+=("$1") ;;
	esac
	shift
done
here=$(dirname "$0")
for round in $(seq "$rounds"); do
	for side in A B; do
		bin=$a
		[ "$side" = A ] || bin=$b
		echo "== round $round, $side ($bin)"
		"$here/syscalls.sh" --peers ferry --top 0 --ferry "$bin" "${args[@]}"
	done
done
