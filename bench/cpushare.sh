#!/usr/bin/env bash
# cpushare.sh: how the 2 cores are shared while ferry-bench measures
# ferry's CONNECT setup rate, at GOMAXPROCS=1 and 2 for ferry: the CPU
# ferry and the tool get (from /proc/PID/stat, sampled every 0.5 s; the
# samples where ferry is busy are the proxied half of the round) next to
# the rate. Issue 9's scaling question: what ferry makes of a second core
# it shares with the load tool.
#
#   bench/cpushare.sh [--runs 2] [--duration 8s]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
runs=2 duration=8s
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift ;;
	--duration) duration=$2; shift ;;
	-h | --help) sed -n '2,9s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "cpushare.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done

work=$(mktemp -d /tmp/ferry-cpushare.XXXXXX)
ferry_pid=""
cleanup() {
	[ -n "$ferry_pid" ] && kill "$ferry_pid" 2>/dev/null
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
(cd "$root" && go build -o "$work/ferry" ./cmd/ferry && go build -o "$work/ferry-bench" ./cmd/ferry-bench)

# A port below the ephemeral range, free now.
port=$(python3 -c 'import socket,random
for _ in range(100):
    p=random.randint(20000,30000); s=socket.socket()
    try: s.bind(("127.0.0.1",p)); print(p); break
    except OSError: pass')
sed "s|@ACCESS_LOG@|$work/access.log|" "$root/bench/ferry.toml" >"$work/ferry.toml"

ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

for run in $(seq "$runs"); do
	for procs in 1 2; do
		GOMAXPROCS=$procs "$work/ferry" -config "$work/ferry.toml" -listen "127.0.0.1:$port" 2>"$work/ferry.log" &
		ferry_pid=$!
		for _ in $(seq 50); do
			grep -q '"listening"' "$work/ferry.log" && break
			sleep 0.1
		done
		"$work/ferry-bench" -http-proxy "127.0.0.1:$port" -only setup -q -json -rounds 1 -duration "$duration" >"$work/run.json" 2>/dev/null &
		bench_pid=$!
		pf=$(ticks "$ferry_pid") pb=$(ticks "$bench_pid")
		: >"$work/samples"
		for _ in $(seq 120); do
			sleep 0.5
			kill -0 "$bench_pid" 2>/dev/null || break
			f=$(ticks "$ferry_pid") b=$(ticks "$bench_pid")
			[ "$b" -gt 0 ] || break # the tool ended between the two reads
			echo "$(((f - pf) * 2)) $(((b - pb) * 2))" >>"$work/samples" # % of a core (100 ticks/s)
			pf=$f pb=$b
		done
		wait "$bench_pid"
		kill "$ferry_pid"
		wait "$ferry_pid" || true
		ferry_pid=""
		share=$(awk '$1 > 50 {n++; f += $1; t += $2} END {if (n) printf "ferry %.0f%%, tool %.0f%% of a core (%d samples)", f/n, t/n, n}' "$work/samples")
		rate=$(python3 -c 'import json,sys
for m in json.load(open(sys.argv[1]))["metrics"]:
    if m["id"] == "setup.connect.rate": print("%.0f tunnels/s, %.2f of direct" % (m["proxy"], m["ratio"]))' "$work/run.json")
		echo "run $run GOMAXPROCS=$procs: $rate; while proxying: $share"
	done
done
