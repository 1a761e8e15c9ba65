#!/bin/bash
# make bench-vbabort: boots a TCG guest and runs tools/bench/vbabort_bench.c there (vbabort vs io_uring, abort latency).
#
# BASE_KO=path/to/other/vbabort.ko also measures that module (for example main's, built in a
# scratch copy) in the same guest, the two alternating for PASSES passes (default 3; 1 without
# it); each pass is a whole vbabort-bench run. The summary gives, per module and row, the median
# kabort/io_uring ratio of the passes and its range. GUEST_CPU sets the guest's -cpu.
set -euo pipefail

cd "$(dirname "$0")/../.."
# shellcheck source=../../tests/lib/guest.sh
. tests/lib/guest.sh
BUILD=${BUILD:-build}
SECONDS_PER_ROUND=${BENCH_SECONDS:-1}
BASE_KO=${BASE_KO:-}
PASSES=${PASSES:-$([ -n "$BASE_KO" ] && echo 3 || echo 1)}

tmp=$(mktemp -d /tmp/vbridge-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

files=(--file "$PWD/vbabort.ko:/opt/this/vbabort.ko")
modules=this
if [ -n "$BASE_KO" ]; then
	files+=(--file "$BASE_KO:/opt/base/vbabort.ko")
	modules="this base"
fi

cat >"$tmp/bench.sh" <<GUEST
rmmod null_blk brd
# No memory backing: the device itself costs as little as possible, so the I/O path is what is measured.
modprobe null_blk nr_devices=1 gb=16
modprobe brd rd_nr=1 rd_size=65536
echo "0 \$(cat /sys/block/ram0/size) delay /dev/ram0 0 2000" | DM_DISABLE_UDEV=1 dmsetup create --noudevsync slow
echo BENCH-BEGIN
echo "guest kernel \$(uname -r), \$(nproc) vCPUs under TCG, -cpu ${GUEST_CPU:-max}"
for pass in \$(seq $PASSES); do
	for m in $modules; do
		insmod /opt/\$m/vbabort.ko
		echo "pass \$pass, module \$m:"
		vbabort-bench /dev/nullb0 /dev/dm-0 $SECONDS_PER_ROUND
		# The abort rounds leave reads on dm-delay (2 s): the module stays busy until they end.
		for try in \$(seq 40); do rmmod vbabort 2>/dev/null && break; sleep 0.25; done
		! grep -q '^vbabort ' /proc/modules || { echo "vbabort did not unload"; exit 1; }
	done
done
echo BENCH-END
GUEST

guest_build_initramfs "$tmp/initrd" "$tmp/bench.sh" --modules "null_blk brd dm-delay" "${files[@]}" \
	--file "$BUILD/tools/bench/vbabort-bench" --file /usr/sbin/dmsetup
echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
rc=0
GUEST_SMP=${GUEST_SMP:-2} guest_run "$tmp/console.log" 1800 || rc=$?
tr -d '\r' <"$tmp/console.log" | sed -n '/BENCH-BEGIN/,/BENCH-END/p' | grep -v BENCH- | tee "$tmp/out"
echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
# Per module and row: the median of the passes' ratios, their range, and the median IOPS.
awk '/^pass /{ m = $4; sub(/[^a-z].*/, "", m) }
     /^(read|write) / { k = m " " $1 " " $2; n[k]++; r[k, n[k]] = $5; v[k, n[k]] = $3; u[k, n[k]] = $4
                        if (!(k in seen)) { seen[k] = 1; order[++nk] = k } }
     function med(a, k, c,   i, j, t, x) { for (i = 1; i <= c; i++) x[i] = a[k, i]
                        for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
                        lo = x[1]; hi = x[c]; return x[int((c + 1) / 2)] }
     END { if (!nk) exit
           printf "summary over the passes: module op depth, median vbabort IOPS, io_uring IOPS, ratio (range)\n"
           for (i = 1; i <= nk; i++) { k = order[i]; c = n[k]; mv = med(v, k, c); mu = med(u, k, c); mr = med(r, k, c)
                 printf "%-12s %8.0f %8.0f %6.2f (%.2f-%.2f)\n", k, mv, mu, mr, lo, hi } }' "$tmp/out"
exit "$rc"
