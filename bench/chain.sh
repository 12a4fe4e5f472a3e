#!/usr/bin/env bash
# chain.sh: a two-ferry chain over mutual TLS (a child ferry whose default
# route is a parent ferry's TLS listener), with HTTP/1.1 between the hops
# (a TLS connection per tunnel) and with HTTP/2 (streams on pooled
# connections), measured by ferry-bench through the child, each run next
# to direct. One markdown table (issue 21 item 3).
#
#   bench/chain.sh [--duration 3s] [--only bulk,setup] [--conc 64] [--out FILE] [--keep]
#
# Runs: chain-h1 (http2 = false), chain-h2 (http2_conns = 1), chain-h2x8
# (http2_conns = 8). The PKI is made with openssl for the run.
set -euo pipefail

usage() { sed -n '2,11s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }

root=$(cd "$(dirname "$0")/.." && pwd)
duration=3s only=bulk,setup conc=64 out="" keep=0
cmdline="bench/chain.sh $*"
while [ $# -gt 0 ]; do
	case $1 in
	--duration) duration=$2; shift ;;
	--only) only=$2; shift ;;
	--conc) conc=$2; shift ;;
	--out) out=$2; shift ;;
	--keep) keep=1 ;;
	-h | --help) usage ;;
	*) echo "chain.sh: unknown argument $1" >&2; usage 2 >&2 ;;
	esac
	shift
done

log() { echo "chain.sh: $*" >&2; }

work=$(mktemp -d /tmp/ferry-chain.XXXXXX)
started=()
cleanup() {
	local p
	for p in "${started[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	if [ "$keep" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building ferry and ferry-bench"
(cd "$root" && go build -o "$work/bin/ferry" ./cmd/ferry && go build -o "$work/bin/ferry-bench" ./cmd/ferry-bench)

log "making the PKI"
pki=$work/pki
mkdir -p "$pki"
ossl() { openssl "$@" 2>/dev/null; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench-ca \
	-keyout "$pki/ca.key" -out "$pki/ca.pem"
leaf() { # leaf NAME EXT
	ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" -keyout "$pki/$1.key" -out "$pki/$1.csr"
	printf '%s\n' "$2" >"$pki/$1.ext"
	ossl x509 -req -days 1 -in "$pki/$1.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial \
		-extfile "$pki/$1.ext" -out "$pki/$1.pem"
}
leaf parent $'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'
leaf child $'extendedKeyUsage=clientAuth'

# free_port sets $free to a port below the ephemeral range.
used=" "
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 12000))
		case $used in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			used="$used$p "
			free=$p
			return 0
		fi
	done
	log "no free port"
	return 1
}

# start NAME CONFIG: run a ferry in the background; sets $pid, waits for its port.
start() {
	local name=$1 port=$2 i
	"$work/bin/ferry" -config "$work/$name.toml" >"$work/$name.out" 2>&1 &
	pid=$!
	started+=("$pid")
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || { log "$name exited:"; tail -n 20 "$work/$name.out" >&2; return 1; }
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		sleep 0.1
	done
	log "$name did not listen"
	return 1
}

common='
[limits]
max_conns = 0

[log]
level = "warn"
access = "'$work'/@NAME@.access"

[acl]
default = "deny"

[[acl.rule]]
name = "allow-bench"
action = "allow"
ip = ["127.0.0.0/8"]
'

free_port
pport=$free
cat >"$work/parent.toml" <<EOF
[[listener]]
name = "tls"
address = "127.0.0.1:$pport"
protocol = "http"
tls = { cert = "$pki/parent.pem", key = "$pki/parent.key", client_ca = "$pki/ca.pem" }
${common//@NAME@/parent}
EOF
start parent "$pport"

runs=()
for run in "chain-h1:http2 = false" "chain-h2:http2_conns = 1" "chain-h2x8:http2_conns = 8"; do
	name=${run%%:*}
	free_port
	cport=$free
	cat >"$work/$name.toml" <<EOF
[[listener]]
name = "child"
address = "127.0.0.1:$cport"

[[upstream]]
name = "parent"
url = "https://127.0.0.1:$pport"
ca_file = "$pki/ca.pem"
cert = "$pki/child.pem"
key = "$pki/child.key"
${run#*:}

[routing]
default = "parent"
${common//@NAME@/$name}
EOF
	start "$name" "$cport"
	log "measuring $name"
	"$work/bin/ferry-bench" -name "$name" -pid "$pid" -http-proxy "127.0.0.1:$cport" -only "$only" \
		-duration "$duration" -c "$conc" -json >"$work/$name.json"
	runs+=("$work/$name.json")
	kill "$pid"
done

table=$("$work/bin/ferry-bench" -merge "${runs[@]}")
report="$cmdline ($(date -u +%Y-%m-%d), $(nproc) cores)

$table"
if [ -n "$out" ]; then printf '%s\n' "$report" >"$out"; fi
printf '%s\n' "$report"
