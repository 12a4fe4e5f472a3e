#!/usr/bin/env bash
# limits.sh: what a [[limit]] decision costs (issue 18), one markdown
# table: ferry without limits, with a limit counted in process, and with
# the same limit counted in Redis (redis-server on loopback, started
# here), measured by ferry-bench (setup: tunnels/s and latency; http:
# plain-HTTP requests/s and latency), one after the other, PASSES times.
#
#   bench/limits.sh [--duration 3s] [--passes 2] [--timeout 5ms] [--out FILE]
#
# --timeout is [fleet] timeout: a decision that waits longer on Redis
# counts in process instead (fail open); the table's notes say how often
# Redis was marked down during the run (ferry_fleet_redis_state_changes_total).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
duration=3s passes=2 timeout=5ms out=""
cmdline="bench/limits.sh $*"
while [ $# -gt 0 ]; do
	case $1 in
	--duration) duration=$2; shift ;;
	--passes) passes=$2; shift ;;
	--timeout) timeout=$2; shift ;;
	--out) out=$2; shift ;;
	-h | --help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "limits.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
command -v redis-server >/dev/null || { echo "limits.sh: redis-server not installed" >&2; exit 2; }

log() { echo "limits.sh: $*" >&2; }
work=$(mktemp -d /tmp/ferry-limits.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
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
(cd "$root" && go build -o "$work/ferry" ./cmd/ferry && go build -o "$work/ferry-bench" ./cmd/ferry-bench)

rport=$(free_port)
redis-server --bind 127.0.0.1 --port "$rport" --save "" --appendonly no >"$work/redis.out" 2>&1 &
pids+=($!)
wait_port "$rport"

# config NAME: bench/ferry.toml (no access log: the limit's cost, not the
# log's), plus the limit and the fleet as NAME says, plus an admin port.
config() {
	local name=$1 admin=$2 f="$work/$1.toml"
	sed "s#@ACCESS_LOG@#/dev/null#" "$root/bench/ferry.toml" >"$f"
	printf '\n[admin]\naddress = "127.0.0.1:%s"\n' "$admin" >>"$f"
	case $name in
	limit-local) cat "$root/bench/limits.toml" >>"$f" ;;
	limit-redis)
		cat "$root/bench/limits.toml" >>"$f"
		printf '\n[fleet]\nredis = "redis://127.0.0.1:%s/0"\ntimeout = "%s"\n' "$rport" "$timeout" >>"$f"
		;;
	esac
	echo "$f"
}

runs=() notes=()
for pass in $(seq "$passes"); do
	for name in no-limit limit-local limit-redis; do
		port=$(free_port) admin=$(free_port)
		"$work/ferry" -config "$(config "$name" "$admin")" -listen "127.0.0.1:$port" >"$work/$name.out" 2>&1 &
		pid=$!
		pids+=("$pid")
		wait_port "$port"
		log "pass $pass: $name (pid $pid)"
		"$work/ferry-bench" -name "$name-$pass" -pid "$pid" -duration "$duration" -only setup,http -json \
			-http-proxy "127.0.0.1:$port" -socks-proxy "127.0.0.1:$port" >"$work/$name-$pass.json"
		runs+=("$work/$name-$pass.json")
		if [ "$name" = limit-redis ]; then
			changes=$(curl -s "http://127.0.0.1:$admin/metrics" | awk '/^ferry_fleet_redis_state_changes_total/ {print $2}')
			notes+=("pass $pass: redis marked down or up ${changes:-?} times during the run")
		fi
		kill "$pid"
		wait "$pid" 2>/dev/null || true
	done
done

{
	echo "## [[limit]] decisions: none, in process, in Redis ($(date -u '+%Y-%m-%d %H:%M UTC'))"
	echo
	echo "\`$cmdline\` on $(nproc) CPUs ($(uname -r)), redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'), [fleet] timeout $timeout."
	echo
	"$work/ferry-bench" -merge "${runs[@]}"
	echo
	for n in "${notes[@]}"; do echo "- $n"; done
} | if [ -n "$out" ]; then tee "$out"; else cat; fi
