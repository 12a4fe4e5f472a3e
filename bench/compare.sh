#!/usr/bin/env bash
# compare.sh: ferry against the other proxies installed here, one markdown
# table. Builds ferry and ferry-bench, starts each proxy on a free loopback
# port with its config from bench/, runs ferry-bench against it (one proxy
# at a time), stops it, and merges the runs.
#
#   bench/compare.sh [--install] [--duration 3s] [--only bulk,setup,http,open,idle]
#                    [--peers ferry,squid,tinyproxy,dante,microsocks,haproxy]
#                    [--open-rates 25%,50%] [--runs 1] [--no-access-log] [--out FILE] [--keep]
#
# Peers not installed are skipped; nothing is installed unless --install
# (apt-get, as root). haproxy (mode tcp, no handshake, splicing) is
# measured for setup, open and bulk: the reference a handshaking proxy is
# compared with. Every proxy's CPU time per unit of work is a row. With
# --runs N every proxy is measured N times, in turns, and each cell is the
# median run's figure.
set -euo pipefail

usage() { sed -n '2,16s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }

root=$(cd "$(dirname "$0")/.." && pwd)
install=0 duration=3s only=bulk,setup,http,open,idle out="" keep=0 accesslog=1 rates=25%,50% nruns=1
peers=ferry,squid,tinyproxy,dante,microsocks,haproxy
cmdline="bench/compare.sh $*"
while [ $# -gt 0 ]; do
	case $1 in
	--install) install=1 ;;
	--duration) duration=$2; shift ;;
	--only) only=$2; shift ;;
	--peers) peers=$2; shift ;;
	--open-rates) rates=$2; shift ;;
	--runs) nruns=$2; shift ;;
	--no-access-log) accesslog=0 ;;
	--out) out=$2; shift ;;
	--keep) keep=1 ;;
	-h | --help) usage ;;
	*) echo "compare.sh: unknown argument $1" >&2; usage 2 >&2 ;;
	esac
	shift
done

log() { echo "compare.sh: $*" >&2; }

if [ "$install" = 1 ]; then
	[ "$(id -u)" = 0 ] || { log "--install needs root"; exit 2; }
	log "installing squid tinyproxy dante-server microsocks haproxy"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq squid tinyproxy dante-server microsocks haproxy >/dev/null
	# Packages may start system instances; this script runs its own.
	for s in squid tinyproxy danted haproxy; do
		service "$s" stop >/dev/null 2>&1 || true
	done
fi

work=$(mktemp -d /tmp/ferry-compare.XXXXXX)
chmod 755 "$work"
started=()

# stop_pid PID: TERM, up to 5 s to exit, then KILL.
stop_pid() {
	local pid=$1 i
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
	local pid
	for pid in "${started[@]}"; do
		stop_pid "$pid"
	done
	wait 2>/dev/null || true
	if [ "$keep" = 1 ]; then
		log "run directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port sets $free to a port below the ephemeral range (32768+ here),
# so no outgoing connection holds it; checked free and not handed out twice.
used_ports=" "
free=""
free_port() {
	local p i
	for i in $(seq 200); do
		p=$((20000 + RANDOM % 12000))
		case $used_ports in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			used_ports="$used_ports$p "
			free=$p
			return 0
		fi
	done
	log "no free port found"
	return 1
}

# wait_port PID PORT NAME: up to 10 s for PORT to accept, while PID lives.
wait_port() {
	local pid=$1 port=$2 name=$3 i
	for i in $(seq 100); do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "$name exited at start; its output:"
			tail -n 20 "$work/$name.out" >&2 || true
			return 1
		fi
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	log "$name did not listen on $port within 10 s"
	return 1
}

# fill TEMPLATE OUT KEY=VALUE...: copy a config from bench/ with its
# @KEY@ placeholders replaced.
fill() {
	local src=$1 dst=$2 kv
	shift 2
	cp "$src" "$dst"
	for kv in "$@"; do
		sed -i "s#@${kv%%=*}@#${kv#*=}#g" "$dst"
	done
}

log "building ferry and ferry-bench"
(cd "$root" && go build -o "$work/bin/ferry" ./cmd/ferry && go build -o "$work/bin/ferry-bench" ./cmd/ferry-bench)

# start NAME CMD...: run a proxy in the background, output to NAME.out.
pid=""
start() {
	local name=$1
	shift
	"$@" >"$work/$name.out" 2>&1 &
	pid=$!
	started+=("$pid")
}

# The open test's shares are of one direct capacity, measured once here,
# so that every proxy gets the same arrival rates.
base=""
case ",$only," in
*,open,*)
	log "measuring the direct capacity for the open test"
	base=$("$work/bin/ferry-bench" -calibrate -duration "$duration")
	log "open test: $rates of $base"
	;;
esac

runs=()
# bench NAME PID FLAGS...: one ferry-bench run into NAME.json.
bench() {
	local name=$1 p=$2
	shift 2
	log "measuring $name (pid $p), run $round of $nruns"
	if "$work/bin/ferry-bench" -name "$name" -pid "$p" -duration "$duration" -open-rates "$rates" ${base:+-open-base "$base"} -json "$@" >"$work/$name.$round.json"; then
		runs+=("$work/$name.$round.json")
	else
		log "ferry-bench failed against $name"
	fi
}

have() { command -v "$1" >/dev/null 2>&1; }

for round in $(seq "$nruns"); do
	for peer in ${peers//,/ }; do
		free_port
		port=$free
		dir="$work/$peer"
		mkdir -p "$dir"
		chmod 777 "$dir" # squid, tinyproxy and dante drop to unprivileged users
		case $peer in
		ferry)
			# ferry's access log is complete whatever log.level: off is /dev/null.
			alog="$dir/access.log"
			[ "$accesslog" = 1 ] || alog=/dev/null
			fill "$root/bench/ferry.toml" "$dir/ferry.toml" "ACCESS_LOG=$alog"
			start ferry "$work/bin/ferry" -config "$dir/ferry.toml" -listen "127.0.0.1:$port"
			flags=(-http-proxy "127.0.0.1:$port" -socks-proxy "127.0.0.1:$port")
			;;
		squid)
			have squid || { log "squid not installed: skipped"; continue; }
			alog="daemon:@DIR@/access.log"
			[ "$accesslog" = 1 ] || alog=none
			fill "$root/bench/squid.conf" "$dir/squid.conf" "ACCESS_LOG=$alog" "PORT=$port" "DIR=$dir"
			start squid squid -N -f "$dir/squid.conf"
			flags=(-http-proxy "127.0.0.1:$port")
			;;
		tinyproxy)
			have tinyproxy || { log "tinyproxy not installed: skipped"; continue; }
			level=Connect
			[ "$accesslog" = 1 ] || level=Warning
			fill "$root/bench/tinyproxy.conf" "$dir/tinyproxy.conf" "LOGLEVEL=$level" "PORT=$port" "DIR=$dir"
			start tinyproxy tinyproxy -d -c "$dir/tinyproxy.conf"
			flags=(-http-proxy "127.0.0.1:$port")
			;;
		dante)
			have danted || { log "dante (danted) not installed: skipped"; continue; }
			dlog="connect disconnect error"
			[ "$accesslog" = 1 ] || dlog=error
			fill "$root/bench/danted.conf" "$dir/danted.conf" "LOG=$dlog" "PORT=$port" "DIR=$dir"
			start dante danted -f "$dir/danted.conf" -p "$dir/danted.pid"
			flags=(-socks-proxy "127.0.0.1:$port")
			;;
		microsocks)
			have microsocks || { log "microsocks not installed: skipped"; continue; }
			# microsocks has no config file: it logs each connection to stdout.
			start microsocks microsocks -i 127.0.0.1 -p "$port"
			flags=(-socks-proxy "127.0.0.1:$port")
			;;
		haproxy)
			have haproxy || { log "haproxy not installed: skipped"; continue; }
			# Three forwarders, to the echo, the sink and the source, each
			# with its fixed origin address.
			free_port && sink_fwd=$free && free_port && source_fwd=$free
			free_port && echo_port=$free && free_port && sink_port=$free && free_port && source_port=$free
			fill "$root/bench/haproxy.cfg" "$dir/haproxy.cfg" "PORT=$port" "ECHO=127.0.0.1:$echo_port" \
				"SINK_PORT=$sink_fwd" "SINK=127.0.0.1:$sink_port" "SOURCE_PORT=$source_fwd" "SOURCE=127.0.0.1:$source_port"
			start haproxy haproxy -db -f "$dir/haproxy.cfg"
			flags=(-tcp-proxy "127.0.0.1:$port" -echo-addr "127.0.0.1:$echo_port"
				-tcp-bulk-proxy "127.0.0.1:$sink_fwd,127.0.0.1:$source_fwd"
				-sink-addr "127.0.0.1:$sink_port" -source-addr "127.0.0.1:$source_port")
			;;
		*)
			log "unknown peer $peer: skipped"
			continue
			;;
		esac
		if wait_port "$pid" "$port" "$peer"; then
			if [ "$peer" = haproxy ]; then
				# A forwarder has no http and no idle tunnel of its own to hold.
				tcp_only=""
				for t in ${only//,/ }; do
					case $t in bulk | setup | open) tcp_only="$tcp_only,$t" ;; esac
				done
				if [ -n "$tcp_only" ]; then
					bench haproxy "$pid" "${flags[@]}" -only "${tcp_only#,}"
				else
					log "haproxy is measured for bulk, setup and open only: skipped"
				fi
			else
				bench "$peer" "$pid" "${flags[@]}" -only "$only"
			fi
		fi
		stop_pid "$pid"
	done
done

[ ${#runs[@]} -gt 0 ] || { log "no run succeeded"; exit 1; }

table() {
	local cpu
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
	echo "### ferry-bench comparison, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Machine: $(nproc) cores, ${cpu:-unknown CPU}, Linux $(uname -r), $(go version | cut -d' ' -f3);" \
		"load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
	echo "Command: \`$cmdline\` (each figure: ${duration} measured after a warm-up$([ "$nruns" -gt 1 ] && echo "; every proxy measured $nruns times in turns, each cell the median run's figure"))."
	echo "Access logs: $([ "$accesslog" = 1 ] && echo "on, to files, for every proxy that has one" || echo "off")."
	[ -z "$base" ] || echo "Open test: arrivals at $rates of the direct capacity measured once at the start ($base per second), the same for every proxy; cells are the latency the proxy adds to direct's at the same rate."
	echo "CPU rows: the proxy's user+system time (its process tree, /proc) over the measured windows, per unit of work."
	echo
	echo "Cells: **proxy/direct** (proxy's value), the direct baseline measured in the same run;" \
		"for latencies lower is better. — : not measured (the proxy lacks the protocol)."
	echo
	"$work/bin/ferry-bench" -merge "${runs[@]}"
}

if [ -n "$out" ]; then
	table >"$out"
	log "table written to $out"
else
	table
fi
