#!/bin/bash
# make bench-rbd: vbridge --engine rbd against qemu-storage-daemon driver=rbd on the tests' throw-away cluster, one table.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: tools/bench/rbd_bench.sh [options]     (from the repository root)

Starts the tests' single-node Ceph cluster (tests/lib/ceph.sh), fills the
first --span of its image, and measures with build/vbridge-bench, row by row
and in alternating order, vbridge --engine rbd and qemu-storage-daemon
--blockdev driver=rbd (with an iothread) on the same image. Each back-end is
started for its measurement and stopped after it: both take the image's
exclusive lock. Then times vbridge's suspension (GET_VRING_BASE) with
256 writes, then 1, 16 and 256 requests (half writes) with the cluster,
the OSD holding every message of
vbridge's connection up to 1 s (ms_inject_delay_*), with
build/vbridge-suspend-bench. Writes both tables (rst) to --out.

Options:
  --time SEC      seconds per measurement (default 3)
  --span SIZE     the part of the image measured, vbridge-bench's --span
                  (default 256M)
  --suspend-runs N  samples of each suspension row (default 20; 0: no
                  suspension rows)
  --dir DIR       work directory: the cluster, sockets and logs (default: a
                  new one under /tmp, removed at the end)
  --out FILE      the table written (default Documentation/rbd-bench.txt)
  --dry-run       print the rows and the order of the back-ends, start nothing
  -h, --help      this text

Environment: BUILD (default build) holds vbridge, vbridge-engine-rbd.so and
vbridge-bench.
EOF
}

say() { printf 'bench-rbd: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
usage_error() { say "$*"; usage >&2; exit 2; }

BUILD=${BUILD:-build}
TIME=3
SPAN=256M
RUNS=20
DIR=
OUT=Documentation/rbd-bench.txt
DRY=0
while [ $# -gt 0 ]; do
	case "$1" in
	--time | --span | --suspend-runs | --dir | --out)
		[ $# -ge 2 ] || usage_error "$1 needs a value"
		case "$1" in
		--time) TIME=$2 ;;
		--span) SPAN=$2 ;;
		--suspend-runs) RUNS=$2 ;;
		--dir) DIR=$2 ;;
		--out) OUT=$2 ;;
		esac
		shift 2
		;;
	--dry-run) DRY=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage_error "unknown option $1" ;;
	esac
done
[[ $TIME =~ ^[0-9]+(\.[0-9]+)?$ ]] && [ "$TIME" != 0 ] ||
	usage_error "--time $TIME: expected seconds, more than 0"
[[ $SPAN =~ ^[0-9]+[KMG]$ ]] || usage_error "--span $SPAN: expected a size such as 256M"
[[ $RUNS =~ ^[0-9]+$ ]] && [ "$RUNS" -le 1000 ] ||
	usage_error "--suspend-runs $RUNS: expected 0 to 1000"

# NAME DEPTH vbridge-bench options
WORKLOADS=(
	"4k-randread 1 --rw randread --bs 4k --depth 1"
	"4k-randread 32 --rw randread --bs 4k --depth 32"
	"4k-randwrite 1 --rw randwrite --bs 4k --depth 1"
	"4k-randwrite 32 --rw randwrite --bs 4k --depth 32"
	"1m-read 8 --rw read --bs 1M --depth 8"
	"1m-write 8 --rw write --bs 1M --depth 8"
)
# order ROW: the back-ends of row ROW in the order they run, so that neither
# always comes first after the other one released the lock.
order() { if [ $(($1 % 2)) -eq 0 ]; then echo vbridge qsd; else echo qsd vbridge; fi; }

if [ "$DRY" -eq 1 ]; then
	for i in "${!WORKLOADS[@]}"; do
		read -r name depth _ <<<"${WORKLOADS[$i]}"
		echo "$name depth $depth: $(order "$i")"
	done
	[ "$RUNS" -eq 0 ] || echo "suspension: 256 writes in flight, then 1, 16 and 256 requests (half writes), $RUNS samples each, draining and suspending"
	exit 0
fi

for tool in "$BUILD/vbridge" "$BUILD/vbridge-engine-rbd.so" "$BUILD/vbridge-bench" \
	"$BUILD/vbridge-suspend-bench"; do
	[ -e "$tool" ] || die "$tool is not built (run make)"
done
for cmd in qemu-storage-daemon ceph-mon rbd python3; do
	command -v "$cmd" >/dev/null || die "$cmd is missing (run make deps)"
done
# Debian's qsd loads driver=rbd from this module of qemu-block-extra.
compgen -G '/usr/lib/*/qemu/block-rbd.so' >/dev/null ||
	die "qemu-storage-daemon has no driver=rbd: install qemu-block-extra from bookworm-backports (make deps)"

start_s=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
KEEP_DIR=1
if [ -z "$DIR" ]; then
	DIR=$(mktemp -d /tmp/vbridge-rbd-bench.XXXXXX)
	KEEP_DIR=0
fi
mkdir -p "$DIR"
RESULTS=$DIR/results.jsonl
: >"$RESULTS"

. tests/lib/ceph.sh
PID=
cleanup() {
	set +e	# ceph_stop's wait reports the SIGKILL it sent
	[ -z "$PID" ] || { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }
	ceph_stop
	[ "$KEEP_DIR" -eq 1 ] || rm -rf "$DIR"
	return 0
}
trap cleanup EXIT
trap 'exit 1' INT TERM

say "starting the cluster in $DIR"
ceph_start "$DIR/ceph" || die "the cluster did not start"
say "filling the first $SPAN of $CEPH_POOL/$CEPH_IMAGE"
rbd --conf "$CEPH_CONF" bench --io-type write --io-pattern seq --io-size 4M --io-threads 4 \
	--io-total "$SPAN" "$CEPH_POOL/$CEPH_IMAGE" >"$DIR/fill.log" 2>&1 ||
	{ cat "$DIR/fill.log" >&2; die "rbd bench could not fill the image"; }

# start_backend NAME: sets PID and SOCK.
start_backend() {
	SOCK=$DIR/$1.sock
	local log=$DIR/$1.log
	rm -f "$SOCK"
	case "$1" in
	vbridge)
		"$BUILD/vbridge" serve --socket "$SOCK" --engine rbd \
			--disk "rbd:$CEPH_POOL/$CEPH_IMAGE:conf=$CEPH_CONF" --queues 1 --log-level warn \
			>>"$log" 2>&1 &
		;;
	qsd)
		# like run-bench's qsd: an iothread for the export; cache.direct=on
		# is rbd_cache=false, as vbridge's engine sets it
		qemu-storage-daemon --object iothread,id=io0 \
			--blockdev "driver=rbd,pool=$CEPH_POOL,image=$CEPH_IMAGE,conf=$CEPH_CONF,node-name=disk,cache.direct=on" \
			--export "type=vhost-user-blk,id=e,node-name=disk,addr.type=unix,addr.path=$SOCK,writable=on,num-queues=1,iothread=io0" \
			>>"$log" 2>&1 &
		;;
	esac
	PID=$!
	for _ in $(seq 3000); do
		[ -S "$SOCK" ] && return 0
		kill -0 "$PID" 2>/dev/null || { tail -n 20 "$log" >&2; die "$1 exited before it made its socket"; }
		sleep 0.01
	done
	die "$1 made no socket in 30 s (log: $log)"
}

# Both release the exclusive lock on SIGTERM; the next one takes it at its first write.
stop_backend() {
	kill "$PID"
	wait "$PID" 2>/dev/null || true
	PID=
}

# measure NAME DEPTH BACKEND [vbridge-bench options...]: one JSON line in $RESULTS.
measure() {
	local name=$1 depth=$2 backend=$3 json
	shift 3
	start_backend "$backend"
	json=$("$BUILD/vbridge-bench" --socket "$SOCK" --span "$SPAN" --time "$TIME" --json "$@") ||
		die "$backend $name depth $depth failed"
	stop_backend
	python3 -c '
import json, sys
j = json.loads(sys.argv[1])
j.update(workload=sys.argv[2], depth=int(sys.argv[3]), backend=sys.argv[4])
print(json.dumps(j))
print("  %-7s %-12s depth %-3s %8.0f IOPS  p99 %9.1f us" % (j["backend"], j["workload"], j["depth"],
      j["iops"], j["lat_ns"]["p99"] / 1e3), file=sys.stderr)' "$json" "$name" "$depth" "$backend" >>"$RESULTS"
}

say "$TIME s per measurement over the first $SPAN"
for i in "${!WORKLOADS[@]}"; do
	read -r -a w <<<"${WORKLOADS[$i]}"
	for b in $(order "$i"); do
		measure "${w[0]}" "${w[1]}" "$b" "${w[@]:2}"
	done
done

# The suspension rows: the OSD delays messages only on connections made after
# ms_inject_delay_type is set, and only while the probability is 1, which
# --slow-cmd sets once vbridge is up (its start would be slow too).
SUSPEND=$DIR/suspend.txt
: >"$SUSPEND"
if [ "$RUNS" -gt 0 ]; then
	say "suspension: $RUNS samples of each row, the OSD delaying messages up to 1 s"
	osd_set() { ceph --conf "$CEPH_CONF" daemon osd.0 config set "$1" "$2" >/dev/null; }
	osd_set ms_inject_delay_type client && osd_set ms_inject_delay_max 1 ||
		die "cannot set the OSD's message delay"
	cat >"$DIR/osd-delay" <<DELAY
#!/bin/sh
# on: the OSD holds every message of a client connection up to 1 s; off: none
[ "\$1" = on ] && p=1 || p=0
exec ceph --conf '$CEPH_CONF' daemon osd.0 config set ms_inject_delay_probability "\$p" >/dev/null
DELAY
	chmod +x "$DIR/osd-delay"
	# Issue 17's case first, as rows for the table of the mixed run below.
	BUILD=$BUILD "$BUILD/vbridge-suspend-bench" --engine rbd --disk "rbd:$CEPH_POOL/$CEPH_IMAGE:conf=$CEPH_CONF" \
		--slow "1000:$RUNS" --where "Ceph RBD, writes only" --read-seconds 0 --writes \
		--depths 256 --rows --slow-cmd "$DIR/osd-delay" >"$DIR/writes-rows.txt" ||
		die "vbridge-suspend-bench --writes failed"
	echo "note: \`\`Ceph RBD, writes only\`\`: the same with 256 4 KiB writes in flight and no reads (\`\`--writes\`\`)." \
		>>"$DIR/writes-rows.txt"
	BUILD=$BUILD "$BUILD/vbridge-suspend-bench" --engine rbd --disk "rbd:$CEPH_POOL/$CEPH_IMAGE:conf=$CEPH_CONF" \
		--slow "1000:$RUNS" --where "Ceph RBD, host" --read-seconds 0 \
		--add-rows "$DIR/writes-rows.txt" --slow-cmd "$DIR/osd-delay" >"$SUSPEND" ||
		die "vbridge-suspend-bench failed"
	"$DIR/osd-delay" off
fi

python3 - "$RESULTS" "$OUT" "$TIME" "$SPAN" "$load_start" "$(cut -d' ' -f1-3 /proc/loadavg)" \
	"$(($(date +%s) - start_s))" "$(nproc)" "$SUSPEND" <<'EOF'
import json, sys
results, out, time_s, span, load0, load1, elapsed, cpus, suspend = sys.argv[1:]
rows = {}
for line in open(results):
    j = json.loads(line)
    rows.setdefault((j["workload"], j["depth"]), {})[j["backend"]] = j
head = ["workload", "depth", "vbridge IOPS", "p99 (µs)", "qsd IOPS", "p99 (µs)", "vbridge/qsd"]
body = []
for (w, d), b in rows.items():
    v, q = b["vbridge"], b["qsd"]
    body.append([w, str(d), f"{v['iops']:,.0f}", f"{v['lat_ns']['p99'] / 1e3:,.0f}",
                 f"{q['iops']:,.0f}", f"{q['lat_ns']['p99'] / 1e3:,.0f}",
                 f"{v['iops'] / q['iops']:.2f}x" if q["iops"] else "-"])
width = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
rule = "  ".join("=" * n for n in width)
fmt = lambda r: "  ".join(c.ljust(n) for c, n in zip(r, width)).rstrip()
with open(out, "w") as f:
    f.write(".. Generated by make bench-rbd (tools/bench/rbd_bench.sh); do not edit.\n\n")
    f.write(f"``build/vbridge-bench --span {span} --time {time_s}``, one queue, against "
            "``vbridge --engine rbd`` and ``qemu-storage-daemon --blockdev driver=rbd`` "
            "(``cache.direct=on``, an iothread), each started for its measurement, in "
            "alternating order, on the same image of the tests' single-node cluster "
            f"(one OSD on bluestore on a sparse file), all on a {cpus}-CPU machine shared "
            f"with other work: load average {load0} at the start, {load1} at the end; "
            f"the run took {elapsed} s.\n\n")
    f.write("\n".join([rule, fmt(head), rule] + [fmt(r) for r in body] + [rule]) + "\n")
    text = open(suspend).read()
    if text:
        f.write("\nSuspension on the same cluster, the OSD holding every message of "
                "vbridge's connection up to 1 s (``ms_inject_delay_max 1``), "
                "``vbridge-suspend-bench --engine rbd --slow 1000:N``:\n\n" + text)
print(open(out).read(), end="")
EOF
say "wrote $OUT"
