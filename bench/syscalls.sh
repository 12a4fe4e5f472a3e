#!/usr/bin/env bash
# syscalls.sh: where a short tunnel and a plain-HTTP request cost (issue 19
# item 4): the system calls each proxy makes per tunnel (setup) and per
# request (http), counted with perf's syscall tracepoints over the proxy's
# whole life (it runs under `perf stat`, threads and children included),
# next to ferry-bench's CPU per unit. Tunnels are counted by accept
# (accept/accept4 calls), requests by access-log lines. With --pprof DIR
# ferry also serves pprof on an admin port and a CPU profile of each of
# its runs is written to DIR.
#
#   bench/syscalls.sh [--peers ferry,haproxy,squid] [--only setup,http]
#                     [--duration 4s] [--pprof DIR] [--ferry BINARY] [--socks] [--top 12]
#
# --ferry measures that binary instead of one built from the tree;
# --socks sets up ferry's tunnels with SOCKS5 instead of CONNECT.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
peers=ferry,haproxy,squid only=setup,http duration=4s pprof="" ferry_bin="" top=12 socks=0
while [ $# -gt 0 ]; do
	case $1 in
	--peers) peers=$2; shift ;;
	--only) only=$2; shift ;;
	--duration) duration=$2; shift ;;
	--pprof) pprof=$2; shift ;;
	--ferry) ferry_bin=$2; shift ;;
	--top) top=$2; shift ;;
	--socks) socks=1 ;;
	-h | --help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "syscalls.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
command -v perf >/dev/null || { echo "syscalls.sh: perf not installed" >&2; exit 2; }

log() { echo "syscalls.sh: $*" >&2; }
work=$(mktemp -d /tmp/ferry-syscalls.XXXXXX)
chmod 755 "$work"
perf_pid=""
cleanup() {
	[ -z "$perf_pid" ] || kill "$perf_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { # a loopback port below the ephemeral range, free now
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
	done
	return 1
}
wait_port() { # PORT: up to 10 s for it to accept
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	log "nothing listens on $1"; return 1
}

log "building ferry and ferry-bench"
(cd "$root" && go build -o "$work/ferry-bench" ./cmd/ferry-bench)
if [ -n "$ferry_bin" ]; then
	cp "$ferry_bin" "$work/ferry"
else
	(cd "$root" && go build -o "$work/ferry" ./cmd/ferry)
fi
[ -z "$pprof" ] || mkdir -p "$pprof"

# under_perf NAME CMD...: start CMD under perf stat (every syscall
# tracepoint, inherited by threads and children); sets perf_pid and pid
# (the proxy itself).
under_perf() {
	local name=$1
	shift
	perf stat -x, -e 'syscalls:sys_enter_*' -o "$work/$name.perf" -- "$@" >"$work/$name.out" 2>&1 &
	perf_pid=$!
	pid=""
	for _ in $(seq 50); do
		pid=$(pgrep -P "$perf_pid" | head -n 1) && [ -n "$pid" ] && return 0
		sleep 0.1
	done
	log "$name did not start"; return 1
}

# stop_perf: TERM the proxy, let perf write its counts.
stop_perf() {
	kill "$pid" 2>/dev/null || true
	wait "$perf_pid" 2>/dev/null || true
	perf_pid=""
}

# report NAME TEST UNITS JSON: syscalls per unit, the top ones, and the CPU row.
report() {
	local name=$1 test=$2 units=$3 json=$4
	python3 - "$work/$name.perf" "$units" "$json" "$name" "$test" "$top" <<'EOF'
import json, sys
path, units, js, name, test, top = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
counts = {}
for line in open(path):
    f = line.strip().split(",")
    if len(f) < 3 or not f[2].startswith("syscalls:sys_enter_"):
        continue
    try:
        n = int(f[0])
    except ValueError:
        continue
    if n:
        counts[f[2][len("syscalls:sys_enter_"):]] = n
cpu = ""
for m in json.load(open(js)).get("metrics", []):
    if m["id"].endswith(".cpu") and m.get("proxy"):
        cpu = "; ferry-bench CPU %s %.1f %s" % (m["id"], m["proxy"], m.get("unit", ""))
total = sum(counts.values())
unit = "tunnel" if test == "setup" else "request"
print("%s %s: %d %ss, %.1f syscalls per %s%s" % (name, test, units, unit, total / max(units, 1), unit, cpu))
for k, v in sorted(counts.items(), key=lambda kv: -kv[1])[:top]:
    print("  %-16s %6.2f" % (k, v / max(units, 1)))
EOF
}

for peer in ${peers//,/ }; do
	for test in ${only//,/ }; do
		[ "$peer:$test" != haproxy:http ] || continue
		port=$(free_port)
		dir="$work/$peer-$test"
		mkdir -p "$dir"
		chmod 777 "$dir"
		case $peer in
		ferry)
			sed "s#@ACCESS_LOG@#$dir/access.log#" "$root/bench/ferry.toml" >"$dir/ferry.toml"
			admin=""
			if [ -n "$pprof" ]; then
				admin=$(free_port)
				printf '\n[admin]\naddress = "127.0.0.1:%s"\n' "$admin" >>"$dir/ferry.toml"
			fi
			under_perf "$peer-$test" "$work/ferry" -config "$dir/ferry.toml" -listen "127.0.0.1:$port"
			flags=(-http-proxy "127.0.0.1:$port")
			[ "$socks:$test" != 1:setup ] || flags=(-socks-proxy "127.0.0.1:$port")
			;;
		squid)
			sed -e "s#@ACCESS_LOG@#$dir/access.log#" -e "s#@PORT@#$port#" -e "s#@DIR@#$dir#g" "$root/bench/squid.conf" >"$dir/squid.conf"
			under_perf "$peer-$test" squid -N -f "$dir/squid.conf"
			flags=(-http-proxy "127.0.0.1:$port")
			;;
		haproxy)
			echo_port=$(free_port) sink=$(free_port) source=$(free_port)
			sed -e "s#@PORT@#$port#" -e "s#@ECHO@#127.0.0.1:$echo_port#" -e "s#@SINK_PORT@#$sink#" -e "s#@SINK@#127.0.0.1:1#" \
				-e "s#@SOURCE_PORT@#$source#" -e "s#@SOURCE@#127.0.0.1:1#" "$root/bench/haproxy.cfg" >"$dir/haproxy.cfg"
			under_perf "$peer-$test" haproxy -db -f "$dir/haproxy.cfg"
			flags=(-tcp-proxy "127.0.0.1:$port" -echo-addr "127.0.0.1:$echo_port")
			;;
		*) log "unknown peer $peer: skipped"; continue ;;
		esac
		wait_port "$port"
		prof=""
		if [ -n "$pprof" ] && [ "$peer" = ferry ]; then
			secs=$(( ${duration%s} * 2 + 2 ))
			curl -s -o "$pprof/ferry-$test.pprof" "http://127.0.0.1:$admin/debug/pprof/profile?seconds=$secs" &
			prof=$!
		fi
		"$work/ferry-bench" -q -json -rounds 1 -duration "$duration" -pid "$pid" -only "$test" "${flags[@]}" >"$dir/run.json"
		[ -z "$prof" ] || wait "$prof"
		sleep 0.5 # ferry writes its access log every 100 ms
		stop_perf
		if [ "$test" = setup ]; then
			units=$(python3 -c 'import sys
n = 0
for line in open(sys.argv[1]):
    f = line.strip().split(",")
    if len(f) > 2 and f[2] in ("syscalls:sys_enter_accept4", "syscalls:sys_enter_accept"):
        n += int(f[0]) if f[0].isdigit() else 0
print(n)' "$work/$peer-$test.perf")
		else
			units=$(cat "$dir/access.log" 2>/dev/null | wc -l)
		fi
		report "$peer-$test" "$test" "$units" "$dir/run.json"
	done
done
