#!/bin/bash
# VDUSE benchmark: in one TCG guest, /dev/vdX served by vbridge and by qemu-storage-daemon's
# vduse-blk export on the same image, 4k random reads and writes at depth 1 and 32 and 1 MiB
# sequential reads; prints a reStructuredText table of IOPS and vbridge/qsd ratios.
# With --kabort: the same workloads through vbridge's VDUSE device on a null_blk device, served
# with --engine kabort (the vbabort module) and with --engine uring, ROUNDS times (default 3),
# the engines alternating and taking turns to go first; the ratio is kabort/uring, the median
# over the rounds of each round's ratio, with their spread, and the daemon's vbabort ioctls per
# request.
#
# Usage: tools/bench/vduse_bench.sh [--kabort] [SECONDS_PER_RUN]   (BUILD, VBRIDGE_CACHE as for
# the tests; ROUNDS)
set -euo pipefail

MODE=qsd
if [ "${1:-}" = --kabort ]; then
	MODE=kabort
	shift
fi

cd "$(dirname "$0")/../.."
. tests/lib/guest.sh
BUILD=${BUILD:-build}
SECS=${1:-5}
ROUNDS=${ROUNDS:-3}
tmp=$(mktemp -d /tmp/vbridge-vduse-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

for f in "$BUILD/tests/guest/vbridge" "$BUILD/tests/guest/blkbench"; do
	[ -x "$f" ] || { echo "vduse_bench: $f is not built (make)" >&2; exit 1; }
done
qsd=$(command -v qemu-storage-daemon) || { echo "vduse_bench: no qemu-storage-daemon (make deps)" >&2; exit 1; }
# The peer needs attaching by hand: iproute2's vdpa (in sbin, which a user's PATH may lack).
vdpa=$(command -v vdpa || echo /sbin/vdpa)

# The guest prints "RESULT backend test iops MiB/s" lines.
cat >"$tmp/guest.sh" <<GUEST
IMG=/tmp/bench.img
SECS=$SECS
MODE=$MODE
ROUNDS=$ROUNDS
GUEST
cat >>"$tmp/guest.sh" <<'GUEST'
vdisk() { for d in /sys/block/vd*; do [ -e "$d" ] && basename "$d"; done | head -n 1; }
wait_disk() {
	i=0
	while [ -z "$(vdisk)" ]; do i=$((i + 1)); [ $i -lt 300 ] || return 1; sleep 0.1; done
}
suite() {
	backend=$1
	vd=$(vdisk)
	for t in "rand4k-read-qd1 randread 4096 1" "rand4k-read-qd32 randread 4096 32" \
		 "rand4k-write-qd1 randwrite 4096 1" "rand4k-write-qd32 randwrite 4096 32" \
		 "seq1m-read-qd4 seqread 1048576 4"; do
		set -- $t
		echo "RESULT $backend $1 $(/opt/blkbench /dev/$vd $2 $3 $4 $SECS) ${round:-1}"
	done
}
# vbridge on one disk with each engine in turn; same device, same front door. The kabort
# engine logs its requests and ioctls when it stops.
engines() {
	for round in $(seq 1 $ROUNDS); do
		order="uring kabort"
		[ $((round % 2)) -eq 0 ] && order="kabort uring"
		for engine in $order; do
			/opt/vbridge serve --vduse vb --disk $1 --queue-size 256 --state-dir /tmp/st \
				--engine $engine >/tmp/vb.log 2>&1 &
			pid=$!
			wait_disk || { cat /tmp/vb.log; exit 1; }
			suite $engine
			kill -TERM $pid; wait $pid
			sed -n 's/.*kabort: \([0-9]*\) requests in \([0-9]*\) SUBMIT_REAP calls.*/KSTATS \1 \2/p' /tmp/vb.log
		done
	done
}
if [ "$MODE" = kabort ]; then
	rmmod null_blk
	modprobe null_blk nr_devices=1 memory_backed=1 gb=1 || exit 1
	dd if=/dev/urandom of=/dev/nullb0 bs=1M count=256 oflag=direct 2>/dev/null || exit 1
	engines /dev/nullb0
	exit 0
fi
# A written image, so that reads reach real data on both back-ends.
dd if=/dev/urandom of=$IMG bs=1M count=256 2>/dev/null || exit 1

/opt/vbridge serve --vduse vb --disk $IMG --queue-size 256 --state-dir /tmp/st >/tmp/vb.log 2>&1 &
pid=$!
wait_disk || { cat /tmp/vb.log; exit 1; }
suite vbridge
kill -TERM $pid; wait $pid

qemu-storage-daemon \
	--blockdev driver=file,node-name=file0,filename=$IMG,cache.direct=on,aio=io_uring \
	--export type=vduse-blk,id=exp0,node-name=file0,name=qsd,num-queues=1,queue-size=256,writable=on \
	>/tmp/qsd.log 2>&1 &
pid=$!
sleep 1
vdpa dev add name qsd mgmtdev vduse || { cat /tmp/qsd.log; exit 1; }
wait_disk || { cat /tmp/qsd.log; exit 1; }
suite qsd
vdpa dev del qsd
kill -TERM $pid; wait $pid
exit 0
GUEST

modules="vduse virtio_vdpa"
if [ "$MODE" = kabort ]; then
	[ -f vbabort.ko ] || { echo "vduse_bench: vbabort.ko is not built (make modules)" >&2; exit 1; }
	modules="$modules null_blk $PWD/vbabort.ko"
fi
guest_build_initramfs "$tmp/guest.cpio" "$tmp/guest.sh" --modules "$modules" \
	--file "$BUILD/tests/guest/vbridge:/opt/vbridge" --file "$BUILD/tests/guest/blkbench:/opt/blkbench" \
	--file "$qsd:/usr/local/bin/qemu-storage-daemon" --file "$vdpa:/usr/local/bin/vdpa" >"$tmp/mkguest.err" 2>&1 ||
	{ cat "$tmp/mkguest.err" >&2; exit 1; }
rc=0
GUEST_MEM=1G guest_run "$tmp/console.log" 600 || rc=$?
if [ "$rc" -ne 0 ]; then
	tr -d '\r' <"$tmp/console.log" | tail -n 30 >&2
	exit 1
fi
tr -d '\r' <"$tmp/console.log" | awk -v secs="$SECS" -v mode="$MODE" '
	function median(list,    v, k, m, i, j, t) {
		m = split(list, v, " ")
		for (i = 2; i <= m; i++)
			for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
		lo = v[1]; hi = v[m]
		return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
	}
	$1 == "KSTATS" { kreqs += $2; kcalls += $3 }
	$1 == "RESULT" {
		# Several rounds: each cell is the median, each ratio the median of the rounds ratios.
		key = $3 SUBSEP $2; all[key] = all[key] " " $4; allmib[key] = allmib[key] " " $5
		r[$3, $2, $6] = $4; rounds[$6] = 1
		if (!($3 in seen)) { seen[$3] = 1; order[n++] = $3 }
	}
	END {
		for (k in all) { iops[k] = median(all[k]); mib[k] = median(allmib[k]) }
		nr = 0; for (k in rounds) nr++
		# The ratio is the first column over the second: vbridge/qsd, or kabort/uring.
		a = (mode == "kabort") ? "kabort" : "vbridge"; b = (mode == "kabort") ? "uring" : "qsd"
		sep = "========================  ==============  ==============  ======="
		hdr = sprintf("%-24s  %14s  %14s  %7s", "workload (" secs " s each)", a " IOPS", b " IOPS", "ratio")
		if (mode == "kabort") { sep = sep "  ===========" ; hdr = hdr sprintf("  %11s", "min-max") }
		printf "%s\n%s\n%s\n", sep, hdr, sep
		for (i = 0; i < n; i++) {
			t = order[i]
			line = sprintf("%-24s  %8d (%4.0f)  %8d (%4.0f)", t, iops[t, a], mib[t, a], iops[t, b], mib[t, b])
			if (mode != "kabort") {
				printf "%s  %7.2f\n", line, iops[t, b] ? iops[t, a] / iops[t, b] : 0
				continue
			}
			ratios = ""
			for (k in rounds)
				if (r[t, b, k]) ratios = ratios " " r[t, a, k] / r[t, b, k]
			m = median(ratios)
			printf "%s  %7.2f  %11s\n", line, m, sprintf("%.2f-%.2f", lo, hi)
		}
		printf "%s\n", sep
		if (mode == "kabort")
			printf "%d rounds, engines alternating; kabort: %.3f vbabort ioctls per request (%d requests)\n",
			       nr, kreqs ? kcalls / kreqs : 0, kreqs
	}'
