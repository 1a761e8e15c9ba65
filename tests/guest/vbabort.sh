#!/bin/bash
# Boots a TCG guest with the vbabort module and runs its checks there: data path on null_blk and brd,
# FUA seen by the block layer, abort fates on dm-delay, fences (a write abandoned in flight holds back
# another process's overlapping one), orphans of a SIGKILLed process (also across partitions), the
# page limits, bad ioctl input, unload without leaks.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=../lib/guest.sh
. tests/lib/guest.sh
# shellcheck source=../lib/tap.sh
. tests/lib/tap.sh
BUILD=${BUILD:-build}
KO=$PWD/vbabort.ko
TEST_BIN=$PWD/$BUILD/tests/kernel/vbabort-test
VBRIDGE=$PWD/$BUILD/tests/guest/vbridge
WRITETHROUGH=$PWD/$BUILD/tests/guest/writethrough
IOCTL_COUNT=$PWD/$BUILD/tests/guest/ioctl_count

tmp=$(mktemp -d /tmp/vbridge-vbabort.XXXXXX)
cleanup() { [ -n "${VBRIDGE_KEEP:-}" ] || rm -rf "$tmp"; }
trap cleanup EXIT

if [ ! -f "$KO" ] || [ ! -x "$TEST_BIN" ] || [ ! -x "$VBRIDGE" ] || [ ! -x "$WRITETHROUGH" ] || [ ! -x "$IOCTL_COUNT" ]; then
	report 1 "vbabort.ko, $TEST_BIN, $VBRIDGE, $WRITETHROUGH and $IOCTL_COUNT are built (make modules all)"
	tap_done
	exit
fi

# Runs in the guest; each group's own lines come first, then that it ran to the end and left dmesg clean.
cat >"$tmp/test.sh" <<'GUEST'
T=/usr/local/bin/vbabort-test
check() { d=$1; shift; if "$@"; then echo "ok - $d"; else echo "not ok - $d"; bad=1; return 1; fi; }
dmesg_clean() { ! dmesg | grep -E 'WARNING:|BUG:|Oops|Call Trace|general protection' >/tmp/bad; }
group() { # NAME vbabort-test ARGS...
	name=$1
	shift
	check "$name: vbabort-test ran to the end" "$T" "$@"
	check "$name: no kernel warning, BUG or oops in dmesg" dmesg_clean || sed 's/^/# /' /tmp/bad
}
counter() { cat /sys/module/vbabort/parameters/$1; }
slab_kb() { sync; echo 3 >/proc/sys/vm/drop_caches; awk '$1 == "Slab:" { print $2 }' /proc/meminfo; }

check 'vbabort loaded from the initramfs: /dev/vbabort exists' test -c /dev/vbabort
rmmod null_blk brd
modprobe null_blk nr_devices=1 memory_backed=1 gb=1 discard=1
modprobe brd rd_nr=1 rd_size=65536
echo regular >/tmp/regular
nullb() { # NAME ATTR=VALUE...: a null_blk device made through configfs, /dev/NAME
	d=/sys/kernel/config/nullb/$1
	shift
	mkdir "$d" && for a in "$@"; do echo "${a#*=}" >"$d/${a%%=*}" || return; done && echo 1 >"$d/power"
}
grep -q ' /sys/kernel/config ' /proc/mounts || mount -t configfs configfs /sys/kernel/config
# A volatile write cache that honours FUA, and a disk whose every request takes 2 s.
nullb vbcache size=64 memory_backed=1 cache_size=16
nullb vbslow size=256 memory_backed=1 irqmode=2 completion_nsec=2000000000
check 'null_blk devices with a write cache and with 2 s completions' test -b /dev/vbcache -a -b /dev/vbslow

group 'data on null_blk' data /dev/nullb0
group 'data on brd' data /dev/ram0
group 'bad input' bad /dev/ram0 /tmp/regular

# What the block layer issued, from the block:block_rq_issue tracepoint: its rwbs field has an F
# after the W for a FUA write.
TR=/sys/kernel/tracing
mount -t tracefs tracefs $TR
writes_issued() { # DISK SECTOR: the rwbs of each write issued to DISK at SECTOR, on one line
	awk -v dev="$(tr : , </sys/block/$1/dev)" -v s="$2" '{ for (i = 1; i + 5 <= NF; i++)
		if ($i == "block_rq_issue:" && $(i + 1) == dev && $(i + 5) == s && $(i + 2) ~ /^W/)
			printf "%s ", $(i + 2) }' $TR/trace
}
: >$TR/trace
echo 1 >$TR/events/block/block_rq_issue/enable
group 'FUA on a null_blk with a write cache' fua /dev/vbcache
echo 0 >$TR/events/block/block_rq_issue/enable
fua=$(writes_issued vbcache 2048)
plain=$(writes_issued vbcache 4096)
echo "# writes issued: the FUA one as '$fua', the plain one as '$plain'"
check 'the FUA write reached the device once, as a FUA write (rwbs WF...)' sh -c "echo '$fua' | grep -qx 'WF[A-Z]* '"
check 'the plain write reached it once, without FUA' sh -c "echo '$plain' | grep -qx 'W[A-EG-Z]* '"

# The daemon: in write-through cache mode its writes carry FUA (uring: RWF_DSYNC; kabort:
# VBABORT_REQ_FUA), in writeback mode they do not.
group 'request cache on null_blk' cache /dev/nullb0

for engine in uring kabort; do
	: >$TR/trace
	echo 1 >$TR/events/block/block_rq_issue/enable
	BUILD=/opt /opt/writethrough /dev/vbcache $engine 16384 16392 >/tmp/wt.out 2>&1
	wt_status=$?
	echo 0 >$TR/events/block/block_rq_issue/enable
	sed -n 's/^\(not \)\{0,1\}ok [0-9]* - /\1ok - /p; s/^# /# /p' /tmp/wt.out
	check "$engine: writethrough ran to the end" [ "$wt_status" -eq 0 ]
	wt=$(writes_issued vbcache 16384)
	wb=$(writes_issued vbcache 16392)
	echo "# $engine: the write-through write issued as '$wt', the writeback one as '$wb'"
	check "$engine: in write-through mode vbridge's write reached the device as a FUA write" \
		sh -c "echo '$wt' | grep -qx 'WF[A-Z]* '"
	check "$engine: in writeback mode it reached it without FUA" sh -c "echo '$wb' | grep -qx 'W[A-EG-Z]* '"
done

# The daemon's vbabort ioctls per request (strace), reads one at a time and 64 at a time: one
# SUBMIT_REAP per pass of the queue's loop, which also reaps what completed meanwhile, and no
# wake-up for a completion that call already reaped. Before, a read alone cost a SUBMIT and a REAP.
for batch_max in "1 150" "64 10"; do
	set -- $batch_max
	BUILD=/opt /opt/ioctl_count /dev/nullb0 kabort $1 $2 >/tmp/ic.out 2>&1
	ic_status=$?
	sed -n 's/^\(not \)\{0,1\}ok [0-9]* - /\1ok - /p; s/^# /# /p' /tmp/ic.out
	check "kabort, batches of $1: ioctl_count ran to the end" [ "$ic_status" -eq 0 ]
done

group 'orphans on partitions' parts /dev/vbslow /dev/vbslow1 /dev/vbslow2

# Every bio to the dm-delay device waits 2 s, reads and writes alike.
echo "0 $(cat /sys/block/ram0/size) delay /dev/ram0 0 2000" |
	DM_DISABLE_UDEV=1 dmsetup create --noudevsync slow
check 'dm-delay device over brd' test -b /dev/dm-0
group 'abort on dm-delay' abort /dev/dm-0 /dev/ram0
group 'fences on dm-delay' fence /dev/dm-0 /dev/ram0
group 'direct writes on dm-delay' direct /dev/dm-0 /dev/ram0
group 'page limits on dm-delay' limits /dev/dm-0
# Memory cgroup accounting: the test runs inside a cgroup of its own.
CG=/sys/fs/cgroup
mount -t cgroup2 cgroup2 $CG && echo +memory >$CG/cgroup.subtree_control && mkdir $CG/vba
check 'a memory cgroup for the accounting check' test -f $CG/vba/memory.current
echo $$ >$CG/vba/cgroup.procs
group 'memory cgroup accounting on dm-delay' memcg /dev/dm-0 $CG/vba
echo $$ >$CG/cgroup.procs

# The module's own counters are exact; slab covers its contexts and the bios. The
# first round warms up what the kernel keeps once used (bio pools, dm-delay).
# MemFree is no use here: per-CPU page lists make it swing by 8 MiB either way.
group 'SIGKILL with bios in flight' kill /dev/dm-0
slab0=$(slab_kb)
group 'SIGKILL again' kill /dev/dm-0
slab1=$(slab_kb)
echo "# after the orphans: $(counter requests) requests, $(counter bounce_pages) bounce pages; slab before $slab0 kB, after $slab1 kB"
check 'no request or bounce page left after the orphans drained' [ "$(counter requests) $(counter bounce_pages)" = "0 0" ]
# Coarse: a context or bio table leaked per request would show; the counters above are exact.
check 'slab back to within 256 kB after the orphans drained' [ $((slab1 - slab0)) -lt 256 ]
DM_DISABLE_UDEV=1 dmsetup remove --noudevsync slow
check 'rmmod vbabort succeeds once orphans are gone' rmmod vbabort
check 'its slab cache is gone' sh -c '! grep -q "^vbabort_req " /proc/slabinfo'
check 'it loads again' modprobe vbabort
check 'no kernel warning after unload and reload' dmesg_clean
exit "${bad:-0}"
GUEST

rc=0
guest_build_initramfs "$tmp/initrd" "$tmp/test.sh" --modules "null_blk brd dm-delay $KO" \
	--file "$TEST_BIN" --file "$VBRIDGE:/opt/vbridge" --file "$WRITETHROUGH:/opt/writethrough" \
	--file "$IOCTL_COUNT:/opt/ioctl_count" --file /usr/bin/strace \
	--file /usr/sbin/dmsetup >"$tmp/mkguest.log" 2>&1 || rc=$?
if [ "$rc" -eq 0 ]; then
	guest_run "$tmp/console.log" 300 2>"$tmp/run.err" || rc=$?
fi
bad=0
if [ -f "$tmp/console.log" ]; then
	while read -r line; do
		case "$line" in
		"not ok - "*) report 1 "guest: ${line#not ok - }"; bad=1 ;;
		"ok - "*) report 0 "guest: ${line#ok - }" ;;
		"# "*) echo "$line" ;;
		esac
	done < <(guest_tap "$tmp/console.log")
fi
guest_ended "$rc" "$bad"
if [ "$rc" -ne 0 ] || [ "$bad" -ne 0 ]; then
	cat "$tmp/mkguest.log" "$tmp/run.err" 2>/dev/null | diag
	[ ! -f "$tmp/console.log" ] || tr -d '\r' <"$tmp/console.log" | tail -n 60 | diag
fi
tap_done
