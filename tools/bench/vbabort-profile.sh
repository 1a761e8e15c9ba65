#!/bin/bash
# Profiles 4 KiB requests through /dev/vbabort and io_uring in a TCG guest with ftrace's function_graph: calls and average us per function.
#
# Each workload (PROFILE_WORKLOADS, default "vbabort read, io_uring read, vbabort write, io_uring
# write", at depth 1) runs once untraced for its IOPS and once for 0.3 s traced. Only the functions
# below are traced, each timed with its callees; tracing slows everything, so compare the columns
# rather than read them as costs. Needs vbabort.ko (make modules) and vbabort-bench.
set -euo pipefail

cd "$(dirname "$0")/../.."
# shellcheck source=../../tests/lib/guest.sh
. tests/lib/guest.sh
BUILD=${BUILD:-build}
WORKLOADS=${PROFILE_WORKLOADS:-"vbabort:read:1 io_uring:read:1 vbabort:write:1 io_uring:write:1"}
FUNCS=":mod:vbabort __x64_sys_ioctl __x64_sys_io_uring_enter io_submit_sqes blkdev_direct_IO
bio_alloc_bioset bio_put bio_init bio_uninit bio_iov_iter_get_pages __bio_release_pages
kmem_cache_alloc_noprof kmem_cache_free submit_bio blk_finish_plug blk_mq_complete_request
blkdev_bio_end_io_async __check_object_size __wake_up"

tmp=$(mktemp -d /tmp/vbridge-profile.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/profile.sh" <<GUEST
rmmod null_blk
modprobe null_blk nr_devices=1 gb=16
T=/sys/kernel/tracing
mount -t tracefs tracefs \$T
for f in ${FUNCS//$'\n'/ }; do echo "\$f" >>\$T/set_ftrace_filter || echo "# not traceable: \$f"; done
echo function_graph >\$T/current_tracer
echo funcgraph-tail >\$T/trace_options
echo 16384 >\$T/buffer_size_kb
echo 0 >\$T/tracing_on
echo PROFILE-BEGIN
for w in $WORKLOADS; do
	set -- \$(echo "\$w" | tr : ' ')
	vbabort-bench --one /dev/nullb0 \$1 \$2 \$3 1
	: >\$T/trace
	echo 1 >\$T/tracing_on
	vbabort-bench --one /dev/nullb0 \$1 \$2 \$3 0.3 >/dev/null
	echo 0 >\$T/tracing_on
	echo "traced: \$1 \$2 depth \$3; function, calls, total us, us per call"
	# Leaf calls end in "();", others in "} /* name */" (funcgraph-tail); module functions carry " [vbabort]".
	awk '{ gsub(/ \[vbabort\]/, ""); us = ""
	       for (i = 2; i <= NF; i++) if (\$i == "us" && \$(i - 1) ~ /^[0-9.]+\$/) us = \$(i - 1)
	       if (us == "") next
	       if (match(\$0, /\/\* [A-Za-z0-9_.]+ \*\//)) f = substr(\$0, RSTART + 3, RLENGTH - 6)
	       else if (match(\$0, /[A-Za-z0-9_.]+\(\);/)) f = substr(\$0, RSTART, RLENGTH - 3)
	       else next
	       c[f]++; t[f] += us }
	     END { for (f in c) printf "  %-30s %8d %10.0f %8.2f\n", f, c[f], t[f], t[f] / c[f] }' \$T/trace | sort -k3 -n -r
done
echo PROFILE-END
GUEST

guest_build_initramfs "$tmp/initrd" "$tmp/profile.sh" --modules "null_blk $PWD/vbabort.ko" \
	--file "$BUILD/tools/bench/vbabort-bench"
rc=0
GUEST_SMP=${GUEST_SMP:-2} guest_run "$tmp/console.log" 900 || rc=$?
tr -d '\r' <"$tmp/console.log" | sed -n '/PROFILE-BEGIN/,/PROFILE-END/p' | grep -v PROFILE-
echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
exit "$rc"
