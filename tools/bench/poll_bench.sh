#!/bin/bash
# make bench-poll: depth-1 rows of vbridge with adaptive polling off and on against qemu-storage-daemon, repeated, with the daemons' context switches and system calls per request.
#
# Each measurement gets a fresh back-end started under `perf stat` (context
# switches and raw_syscalls:sys_enter of all its threads, set-up included),
# pinned to one CPU, and vbridge-bench pinned to another. The back-ends take
# turns within a round, so a slow spell on a shared machine hits them alike;
# the report gives per row the median over the rounds and the ratios against
# qsd of the same round.
#
# Environment: BUILD (default build), POLL_BENCH_ROUNDS (default 3),
# POLL_BENCH_TIME seconds per measurement (default 3), POLL_BENCH_CPUS
# "BACKEND,CLIENT" (default 0,1), POLL_BENCH_BACKINGS (default "tmpfs null"),
# POLL_BENCH_VBRIDGE "NAME=OPTIONS;..." the vbridge variants (default
# "vbridge-off=--poll-us 0;vbridge=" : polling off, and the default),
# POLL_BENCH_CLIENT_ARGS more vbridge-bench options (e.g. --poll: the client
# spins on the used ring instead of sleeping on its call fd),
# POLL_BENCH_OUT directory for the raw JSON lines (default: a temp dir).
set -euo pipefail

cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
ROUNDS=${POLL_BENCH_ROUNDS:-3}
TIME=${POLL_BENCH_TIME:-3}
IFS=, read -r BACKEND_CPU CLIENT_CPU <<<"${POLL_BENCH_CPUS:-0,1}"
read -r -a BACKINGS <<<"${POLL_BENCH_BACKINGS:-tmpfs null}"
IFS=';' read -r -a VARIANTS <<<"${POLL_BENCH_VBRIDGE:-vbridge-off=--poll-us 0;vbridge=}"
read -r -a CLIENT_ARGS <<<"${POLL_BENCH_CLIENT_ARGS:-}"
OUT=${POLL_BENCH_OUT:-$(mktemp -d /tmp/poll-bench.XXXXXX)}
WORKLOADS=("4k-randread-d1 --rw randread --depth 1" "4k-randwrite-d1 --rw randwrite --depth 1"
	"4k-randread-d32 --rw randread --depth 32")

for cmd in perf qemu-storage-daemon taskset python3 "$BUILD/vbridge" "$BUILD/vbridge-bench"; do
	command -v "$cmd" >/dev/null || { echo "poll-bench: $cmd is missing" >&2; exit 1; }
done
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
SHM=$(mktemp -d /dev/shm/poll-bench.XXXXXX)
PERF_PID=
# Under set -e a failing kill or wait here would end the trap before the tmpfs backing is gone.
cleanup() {
	if [ -n "$PERF_PID" ]; then
		kill "$PERF_PID" 2>/dev/null || true
		wait "$PERF_PID" 2>/dev/null || true
	fi
	rm -rf "$SHM"
}
trap cleanup EXIT
# tmpfs takes O_DIRECT from Linux 6.6 on: every request is a real system call, storage is cheap
dd if=/dev/zero of="$SHM/backing.img" bs=1M count=512 oflag=direct status=none
truncate -s 1G "$SHM/null.img"

# backend_cmd NAME BACKING SOCKET: the command line of back-end NAME.
backend_cmd() {
	local name=$1 backing=$2 sock=$3 v
	if [ "$name" = qsd ]; then
		local node=driver=null-co,size=$((1 << 30)),read-zeroes=on
		[ "$backing" = null ] ||
			node=driver=file,filename=$SHM/backing.img,aio=io_uring,cache.direct=on,locking=off
		echo qemu-storage-daemon --object iothread,id=io0 --blockdev "$node,node-name=disk" \
			--export "type=vhost-user-blk,id=e,node-name=disk,addr.type=unix,addr.path=$sock,writable=on,iothread=io0"
		return
	fi
	for v in "${VARIANTS[@]}"; do
		[ "${v%%=*}" = "$name" ] || continue
		if [ "$backing" = null ]; then
			echo "$BUILD/vbridge" serve --socket "$sock" --engine null --disk "$SHM/null.img" --log-level warn "${v#*=}"
		else
			echo "$BUILD/vbridge" serve --socket "$sock" --disk "$SHM/backing.img" --log-level warn "${v#*=}"
		fi
	done
}

# measure BACKING NAME WORKLOAD ROUND [vbridge-bench options]: one JSON line in $RESULTS.
measure() {
	local backing=$1 name=$2 workload=$3 round=$4 sock=$SHM/sock stat=$OUT/perf.txt daemon json
	shift 4
	rm -f "$sock"
	read -r -a cmd <<<"$(backend_cmd "$name" "$backing" "$sock")"
	perf stat -x, -o "$stat" -e context-switches,raw_syscalls:sys_enter -- \
		taskset -c "$BACKEND_CPU" "${cmd[@]}" >"$OUT/backend.log" 2>&1 &
	PERF_PID=$!
	for _ in $(seq 500); do [ -S "$sock" ] && break; sleep 0.01; done
	[ -S "$sock" ] || { cat "$OUT/backend.log" >&2; exit 1; }
	daemon=$(pgrep -P "$PERF_PID")
	json=$(taskset -c "$CLIENT_CPU" "$BUILD/vbridge-bench" --socket "$sock" --time "$TIME" --json "$@" "${CLIENT_ARGS[@]}")
	# CPU time of the whole daemon, exited threads included, per second of the run
	cpu=$(awk '{ print $14 + $15 }' "/proc/$daemon/stat")
	kill "$daemon"
	wait "$PERF_PID" || true
	PERF_PID=
	python3 - "$json" "$stat" "$backing" "$name" "$workload" "$round" "$cpu" >>"$RESULTS" <<-'EOF'
		import json, os, sys
		j = json.loads(sys.argv[1])
		counts = {}
		for line in open(sys.argv[2]):
		    f = line.strip().split(",")
		    if len(f) > 2 and f[0].isdigit():
		        counts[f[2]] = int(f[0])
		j.update(backing=sys.argv[3], backend=sys.argv[4], workload=sys.argv[5], round=int(sys.argv[6]),
		         backend_cpu=int(sys.argv[7]) / os.sysconf("SC_CLK_TCK") / j["elapsed_s"],
		         ctxsw=counts["context-switches"], syscalls=counts["raw_syscalls:sys_enter"])
		print(json.dumps(j))
	EOF
}

names=()
for v in "${VARIANTS[@]}"; do names+=("${v%%=*}"); done
names+=(qsd)
echo "poll-bench: load $(cut -d' ' -f1-3 /proc/loadavg) at start; back-ends on CPU $BACKEND_CPU, client on CPU $CLIENT_CPU; $ROUNDS rounds of $TIME s; raw results in $RESULTS" >&2
for round in $(seq "$ROUNDS"); do
	for backing in "${BACKINGS[@]}"; do
		for w in "${WORKLOADS[@]}"; do
			read -r -a args <<<"$w"
			for name in "${names[@]}"; do
				measure "$backing" "$name" "${args[0]}" "$round" --bs 4k "${args[@]:1}"
			done
		done
	done
done
echo "poll-bench: load $(cut -d' ' -f1-3 /proc/loadavg) at the end" >&2
python3 tools/bench/poll_report.py "$RESULTS"
