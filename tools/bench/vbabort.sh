#!/bin/bash
# make bench-vbabort: boots a TCG guest and runs tools/bench/vbabort_bench.c there (vbabort vs io_uring, abort latency).
set -euo pipefail

cd "$(dirname "$0")/../.."
# shellcheck source=../../tests/lib/guest.sh
. tests/lib/guest.sh
BUILD=${BUILD:-build}
SECONDS_PER_ROUND=${BENCH_SECONDS:-1}

tmp=$(mktemp -d /tmp/vbridge-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/bench.sh" <<GUEST
rmmod null_blk brd
# No memory backing: the device itself costs as little as possible, so the I/O path is what is measured.
modprobe null_blk nr_devices=1 gb=16
modprobe brd rd_nr=1 rd_size=65536
echo "0 \$(cat /sys/block/ram0/size) delay /dev/ram0 0 2000" | DM_DISABLE_UDEV=1 dmsetup create --noudevsync slow
echo BENCH-BEGIN
echo "guest kernel \$(uname -r), \$(nproc) vCPUs under TCG"
vbabort-bench /dev/nullb0 /dev/dm-0 $SECONDS_PER_ROUND
echo BENCH-END
GUEST

guest_build_initramfs "$tmp/initrd" "$tmp/bench.sh" --modules "null_blk brd dm-delay $PWD/vbabort.ko" \
	--file "$BUILD/tools/bench/vbabort-bench" --file /usr/sbin/dmsetup
rc=0
GUEST_SMP=${GUEST_SMP:-2} guest_run "$tmp/console.log" 600 || rc=$?
tr -d '\r' <"$tmp/console.log" | sed -n '/BENCH-BEGIN/,/BENCH-END/p' | grep -v BENCH-
echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
exit "$rc"
