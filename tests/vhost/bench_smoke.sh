#!/bin/bash
# TAP smoke test of vbridge-bench against a real vbridge: verified I/O in each mode, sane JSON, tagged data in the image, caught corruption.
#
# Run from the repository root; the Makefile installs it as $BUILD/tests/vhost/bench_smoke.
set -uo pipefail

. tests/lib/tap.sh

BUILD=${BUILD:-build}
BENCH=$BUILD/vbridge-bench
VBRIDGE=$BUILD/vbridge
if [ ! -x "$BENCH" ] || [ ! -x "$VBRIDGE" ]; then
	echo "1..0 # SKIP $BENCH or $VBRIDGE not built"
	exit 0
fi
# A sanitizer report must not pass for the exit status 1 of a detected mismatch.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=86
export UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}exitcode=86
DIR=$(mktemp -d /tmp/vbridge-bench-smoke.XXXXXX)
SOCK=$DIR/vb.sock
IMG=$DIR/disk.img
vb_pid=
cleanup() {
	[ -n "$vb_pid" ] && kill "$vb_pid" 2>/dev/null && wait "$vb_pid" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT

truncate -s 64M "$IMG"
"$VBRIDGE" serve --socket "$SOCK" --disk "$IMG" --queues 2 --bounce-max 64K --log-level warn >"$DIR/vbridge.log" 2>&1 &
vb_pid=$!
for _ in $(seq 500); do
	[ -S "$SOCK" ] && break
	sleep 0.01
done
if [ ! -S "$SOCK" ]; then
	echo "Bail out! vbridge did not create its socket"
	diag "$DIR/vbridge.log"
	exit 1
fi

# json_check FILE PYTHON-EXPRESSION: true when the file is one JSON object j for which the expression holds.
json_check() {
	python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
ok = eval("(" + sys.argv[2] + ")")
if not ok:
    print("# JSON fails the check:", json.dumps(j))
sys.exit(0 if ok else 1)
' "$1" "$2"
}

"$BENCH" --help >"$DIR/help" 2>&1
check "--help exits 0 and describes --verify" grep -q -- '--verify' "$DIR/help"
"$BENCH" --socket "$SOCK" --depth 0 2>"$DIR/err"
report $(($? == 2 ? 0 : 1)) "a bad --depth is a usage error (exit 2)"
"$BENCH" --socket "$SOCK" --queues 3 -n 10 2>"$DIR/err"
rc=$?
report $((rc == 1 ? 0 : 1)) "more queues than the back-end offers: exit 1 with a reason"
grep -q 'offers 2' "$DIR/err" || diag "$DIR/err"

# Two queues, random reads and writes, every read checked against what this run wrote there.
"$BENCH" --socket "$SOCK" --verify --rw randrw --queues 2 --depth 8 --requests 400 --span 1M --json \
	>"$DIR/randrw.json" 2>"$DIR/err"
rc=$?
report "$rc" "randrw, 2 queues, depth 8, 400 requests: every read verified"
[ "$rc" -eq 0 ] || diag "$DIR/err"
check "its JSON has sane fields" json_check "$DIR/randrw.json" '
j["requests"] == 400 and j["reads"] + j["writes"] == 400 and j["reads"] > 0 and j["writes"] > 0
and j["verify"]["checked"] == j["reads"] and j["verify"]["mismatches"] == 0
and j["queues"] == 2 and j["depth"] == 8 and j["bs"] == 4096 and j["rw"] == "randrw"
and j["elapsed_s"] > 0 and j["iops"] > 0
and abs(j["mib_s"] - j["iops"] * 4096 / 2**20) <= 0.01 * j["mib_s"] + 0.01
and 0 < j["lat_ns"]["min"] <= j["lat_ns"]["p50"] <= j["lat_ns"]["p99"] <= j["lat_ns"]["p99_9"] <= j["lat_ns"]["max"]'

# The written blocks are on the disk, each sector tagged with its own number.
check "the image holds exactly the blocks the run says it wrote, at the right sectors" python3 -c '
import json, struct, sys
j = json.load(open(sys.argv[1]))
data = open(sys.argv[2], "rb").read(1 << 20)
blocks = 0
for b in range(0, len(data), 4096):
    blk = data[b:b + 4096]
    if blk == bytes(4096):
        continue
    blocks += 1
    for s in range(0, 4096, 512):
        magic, sector = struct.unpack_from("<8sQ", blk, s)
        if magic != b"vbbench\0" or sector != (b + s) // 512:
            print("# sector %d: tag %r %d" % ((b + s) // 512, magic, sector))
            sys.exit(1)
if blocks != j["verify"]["blocks_written"]:
    print("# %d tagged blocks, the run reports %d" % (blocks, j["verify"]["blocks_written"]))
    sys.exit(1)
' "$DIR/randrw.json" "$IMG"

# Sequential 64 KiB, polling, indirect descriptors.
"$BENCH" --socket "$SOCK" --verify --rw rw --bs 64k --depth 4 --requests 300 --span 4M --poll \
	--indirect --json >"$DIR/seq.json" 2>"$DIR/err"
rc=$?
report "$rc" "sequential 64k, --poll, --indirect, 300 requests: every read verified"
[ "$rc" -eq 0 ] || diag "$DIR/err"
check "its JSON says so" json_check "$DIR/seq.json" '
j["mode"] == "poll" and j["indirect"] and j["requests"] == 300 and j["reads"] > 0
and j["verify"]["checked"] == j["reads"] and j["verify"]["mismatches"] == 0'

# Fast suspend negotiated: reads above --bounce-max (64K here, not the default) go direct, those up to it bounce.
for bs in 1M 16k; do
	"$BENCH" --socket "$SOCK" --suspendable --verify --rw rw --bs "$bs" --depth 4 --requests 64 \
		--span 8M --json >"$DIR/susp-$bs.json" 2>"$DIR/err"
	rc=$?
	report "$rc" "--suspendable, sequential $bs, 64 requests: every read verified"
	[ "$rc" -eq 0 ] || diag "$DIR/err"
done

# A time-limited run with the text report.
"$BENCH" --socket "$SOCK" --rw randread --depth 4 --time 0.3 >"$DIR/text" 2>"$DIR/err"
rc=$?
report "$rc" "a 0.3 s randread run ends by itself"
check "the text report has IOPS and percentiles" grep -q 'p99.9' "$DIR/text"

# Corruption behind the bench's back must be reported: zero the span on the
# host once the run has written some of it.
zero_span() { dd if=/dev/zero of="$IMG" bs=1M count=1 conv=notrunc oflag=direct status=none; }
zero_span
"$BENCH" --socket "$SOCK" --verify --rw randrw --depth 4 --span 1M --time 5 >"$DIR/out" 2>"$DIR/err" &
bench_pid=$!
for _ in $(seq 500); do
	cmp -s -n 1048576 "$IMG" /dev/zero || break
	sleep 0.01
done
sleep 0.2
zero_span
wait "$bench_pid"
rc=$?
report $((rc == 1 ? 0 : 1)) "data zeroed on the host under a --verify run fails it (exit $rc)"
check "with a message naming the wrong data" grep -q 'wrong data' "$DIR/err"

# A file in memory (tmpfs): by default reads skip the bounce buffer and a
# request alone on the ring is copied in place, others go to io_uring; with
# fast suspend negotiated, depth 1 and 8, every read checked.
SHM_IMG=$(mktemp /dev/shm/vbridge-bench-smoke.XXXXXX)
truncate -s 16M "$SHM_IMG"
# strace counts the copies in place (LeakSanitizer cannot run under ptrace).
ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 strace -f -qq -e trace=preadv2,pwritev2 -o "$DIR/shm.strace" \
	"$VBRIDGE" serve --socket "$DIR/shm.sock" --disk "$SHM_IMG" >"$DIR/shm.log" 2>&1 &
shm_pid=$!
for _ in $(seq 500); do
	[ -S "$DIR/shm.sock" ] && break
	sleep 0.01
done
for depth in 1 8; do
	"$BENCH" --socket "$DIR/shm.sock" --suspendable --verify --rw randrw --depth "$depth" \
		--bs 16k --requests 600 --span 4M --json >"$DIR/shm.json" 2>"$DIR/err"
	rc=$?
	report "$rc" "tmpfs file, fast suspend, randrw 16k at depth $depth: every read verified"
	[ "$rc" -eq 0 ] || diag "$DIR/err"
	if [ "$depth" -eq 1 ]; then
		in_place=$(grep -c 'preadv2\|pwritev2' "$DIR/shm.strace")
		report $((in_place >= 540 ? 0 : 1)) \
			"at depth 1 the daemon copied the requests in place: $in_place preadv2/pwritev2 of 600"
	fi
done
# strace -o blocks fatal signals: SIGTERM goes to the daemon, and strace exits with its status.
pkill -TERM -P "$shm_pid"
wait "$shm_pid"
rc=$?
rm -f "$SHM_IMG"
check "the daemon on tmpfs said its reads go straight to guest memory, and exits 0 (got $rc)" \
	bash -c "[ $rc -eq 0 ] && grep -q 'is in memory: reads go straight to guest memory' '$DIR/shm.log'"

# make bench-qsd's set-up without measuring (BENCH_DRY_RUN): vbridge on every
# backing, yc-libvhost-server on none unless YC_SERVER names it, and a
# YC_SERVER that is not its test server stops the run before anything starts.
BENCH_DRY_RUN=1 BUILD=$BUILD tools/bench/run-bench >"$DIR/plan" 2>"$DIR/err"
rc=$?
report "$rc" "run-bench's dry run"
[ "$rc" -eq 0 ] || diag "$DIR/err"
printf 'null: vbridge qsd\nfile: vbridge qsd\ntmpfs: vbridge qsd\n' >"$DIR/plan.want"
check "it runs vbridge (null engine too) and qsd on the null, file and tmpfs backings, no yc" \
	cmp "$DIR/plan.want" "$DIR/plan"
for yc in "$DIR/no-such-server" /bin/true; do
	YC_SERVER=$yc BENCH_DRY_RUN=1 BUILD=$BUILD tools/bench/run-bench >"$DIR/plan" 2>"$DIR/err"
	rc=$?
	report $((rc == 1 ? 0 : 1)) "YC_SERVER=$yc stops run-bench (exit $rc)"
	check "with a message naming YC_SERVER=$yc" grep -q "YC_SERVER=$yc \(is not an executable\|does not look like\)" "$DIR/err"
done

# The report of a run without YC_SERVER says that yc-libvhost-server was
# skipped: one measurement of this run, labelled as a row of make bench-qsd.
python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
j.update(backing="tmpfs", backend="vbridge", workload="4k-randrw-d8", backend_cpu=0.5)
print(json.dumps(j))' "$DIR/randrw.json" >"$DIR/results.jsonl"
: >"$DIR/rss.jsonl"
python3 tools/bench/report.py --results "$DIR/results.jsonl" --rss "$DIR/rss.jsonl" \
	--template tools/bench/benchmarks.rst.in --rst "$DIR/report.rst" --plot "$DIR/report.png" \
	--work "$DIR" --time 1 --duration 1 --cpus 0,1 --vbridge "$VBRIDGE" --client-args none \
	--vbridge-args none --suspend 1 --load "0.00 0.00 0.00" --load-end "0.00 0.00 0.00" >"$DIR/report.txt" 2>"$DIR/err"
rc=$?
report "$rc" "report.py on one measurement"
[ "$rc" -eq 0 ] || diag "$DIR/err"
check "the report says which back-ends negotiated fast suspend" grep -q '^:Fast suspend: on with vbridge and yc' "$DIR/report.rst"
check "its table says yc-libvhost-server was skipped" grep -qx 'yc-libvhost-server: skipped (set YC_SERVER=.*)' "$DIR/report.txt"
check "so does the reStructuredText" grep -qx ':Second peer: yc-libvhost-server: skipped (set YC_SERVER=.*)' "$DIR/report.rst"

tap_done
