#!/bin/bash
# A TCG guest (QEMU 10) on an RBD image through vbridge --engine rbd, on the real cluster of tests/lib/ceph.sh: data both ways, then the OSD stopped mid-run and back, then killed and restarted.
#
# One cluster and one guest boot. The guest first checks what the host put in the image before
# vbridge started and writes, flushes, discards and zeroes (the host then finds it all in the
# image with rbd export). Then the cluster goes away twice: the host SIGSTOPs the OSD while the
# guest writes (and SIGCONTs it), then SIGKILLs it (and restarts it on its data); each time the
# guest's write and read must fail with an I/O error within a bounded time (the disk has
# timeout=5), the daemon must say so in its log, and once the OSD is back the same daemon must
# serve new writes, with everything acknowledged before the outage still in the image.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=../lib/guest.sh
. tests/lib/guest.sh
BUILD=${BUILD:-build}
# shellcheck source=../lib/tagwrite.sh
. tests/lib/tagwrite.sh
# shellcheck source=../lib/ceph.sh
. tests/lib/ceph.sh
. tests/lib/tap.sh

TIMEOUT=5	# the disk's timeout=: how long a request waits for the stopped OSD
HANG_BOUND=60	# a generous bound on the guest's failing requests: they must not hang
IMAGE=guest

tmp=$(mktemp -d /tmp/vbridge-rbd-guest.XXXXXX)
vb_pid=
guest_job=
cleanup() {
	[ -n "$vb_pid" ] && kill -KILL "$vb_pid" 2>/dev/null
	[ -n "$guest_job" ] && kill -TERM "$guest_job" 2>/dev/null
	ceph_stop
	remove_tmp
}
trap cleanup EXIT
trap 'exit 130' INT TERM

console=$tmp/guest.log
vblog=$tmp/vbridge.log

# Region of the exported image as a sha256; the pattern's first COUNT MiB likewise.
export_sha() { # OFFSET_MIB COUNT_MIB
	dd if="$tmp/export.img" bs=1M skip="$1" count="$2" status=none | sha256sum | cut -d' ' -f1
}
pattern_sha() { head -c $(($1 * MiB)) "$tmp/pattern" | sha256sum | cut -d' ' -f1; }
zero_sha() { head -c $(($1 * MiB)) /dev/zero | sha256sum | cut -d' ' -f1; }

if ! check "a single-node Ceph cluster starts" ceph_start "$tmp/ceph"; then
	tap_done
	exit 1
fi

# The image before vbridge: random data at 1 MiB (the guest must read it) and over 20-28 MiB
# (which the guest discards and zeroes).
truncate -s $((DISK_MIB * MiB)) "$tmp/seed.img"
dd if=/dev/urandom of="$tmp/seed.img" bs=1M seek=1 count=4 conv=notrunc status=none
dd if=/dev/urandom of="$tmp/seed.img" bs=1M seek=20 count=8 conv=notrunc status=none
seed_sha=$(dd if="$tmp/seed.img" bs=1M skip=1 count=4 status=none | sha256sum | cut -d' ' -f1)
check "rbd import writes the image $CEPH_POOL/$IMAGE before vbridge starts" \
	rbd --conf "$CEPH_CONF" import --no-progress --image-feature layering,exclusive-lock \
	"$tmp/seed.img" "$CEPH_POOL/$IMAGE"

head -c $((4 * MiB)) /dev/urandom >"$tmp/pattern"
cat >"$tmp/guest.sh" <<EOS
check() { d=\$1; shift; if "\$@"; then echo "ok - \$d"; else echo "not ok - \$d"; bad=1; return 1; fi; }
rsha() { dd if=/dev/vda bs=1M skip=\$1 count=\$2 iflag=direct 2>/dev/null | sha256sum | cut -d" " -f1; }
fails() { ! "\$@"; }
wblock() { dd if=/pattern of=/dev/vda bs=64k count=1 seek=\$((40 * 16)) oflag=direct 2>/dev/null; }
check 'capacity is $((DISK_MIB * 2048)) sectors' [ "\$(cat /sys/block/vda/size)" = $((DISK_MIB * 2048)) ]
check 'serial number from GET_ID' [ "\$(cat /sys/block/vda/serial)" = rbd-guest ]
check 'blk-mq sees 2 hardware queues' [ "\$(ls /sys/block/vda/mq | wc -l)" = 2 ]
check 'data imported into the image before the start reads back' [ "\$(rsha 1 4)" = $seed_sha ]
check 'O_DIRECT write of a 4 MiB pattern with fsync' dd if=/pattern of=/dev/vda bs=1M seek=8 oflag=direct conv=fsync 2>/dev/null
check 'the pattern reads back' [ "\$(rsha 8 4)" = $(pattern_sha 4) ]
check 'buffered write and sync (flush)' sh -c 'dd if=/pattern of=/dev/vda bs=1M seek=16 count=2 2>/dev/null && sync'
check 'blkdiscard of a whole 4 MiB object' blkdiscard -o $((20 * MiB)) -l $((4 * MiB)) /dev/vda
check 'blkdiscard -z (write zeroes) of 4 MiB' ul-blkdiscard -z -o $((24 * MiB)) -l $((4 * MiB)) /dev/vda
check 'discarded and zeroed ranges read as zeroes' [ "\$(rsha 20 8)" = $(zero_sha 8) ]
# outage NAME OFFSET_MIB: the host takes the OSD away (NAME) after OUTAGE-READY NAME and brings it back
# after OUTAGE-SEEN NAME; writes go on until one fails, then until one succeeds again.
outage() {
	check "\$1: a pattern written before the outage, acknowledged" dd if=/pattern of=/dev/vda bs=1M seek=\$2 count=4 oflag=direct 2>/dev/null
	echo "OUTAGE-READY \$1"
	n=0
	while [ \$n -lt 300 ]; do
		t0=\$(date +%s)
		wblock || break
		n=\$((n + 1))
		sleep 0.2
	done
	t1=\$(date +%s)
	check "\$1: a write while the OSD is away fails with an I/O error" [ \$n -lt 300 ]
	check "\$1: a read while the OSD is away fails with an I/O error" fails dd if=/dev/vda of=/dev/null bs=64k count=1 skip=\$((\$2 * 16)) iflag=direct 2>/dev/null
	t2=\$(date +%s)
	check "\$1: they returned in \$((t1 - t0)) s and \$((t2 - t1)) s (bound $HANG_BOUND s each)" [ \$((t1 - t0)) -le $HANG_BOUND -a \$((t2 - t1)) -le $HANG_BOUND ]
	echo "OUTAGE-SEEN \$1"
	n=0
	until wblock; do
		n=\$((n + 1))
		[ \$n -lt 120 ] || break
		sleep 1
	done
	check "\$1: after the outage the write succeeds (\$n attempts failed)" [ \$n -lt 120 ]
	check "\$1: what was acknowledged before the outage reads back" [ "\$(rsha \$2 4)" = $(pattern_sha 4) ]
	check "\$1: the data from before the start is still there" [ "\$(rsha 1 4)" = $seed_sha ]
}
outage stopped 32
outage killed 36
exit "\${bad:-0}"
EOS
# start_says DESCRIPTION TEXT DISK_OPTIONS: a daemon on the image logs TEXT at start, and stops.
start_says() {
	local log=$tmp/start.log pid
	"$VBRIDGE" serve --socket "$tmp/start.sock" --engine rbd \
		--disk "rbd:$CEPH_POOL/$IMAGE:$3" >"$log" 2>&1 &
	pid=$!
	wait_for "$log" "listening on\|error" 30
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	check "$1" grep -q "$2" "$log" || diag "$log"
}
# Which request timeout applies: vbridge's default, else the configuration file's, else timeout=.
sed 's/^\[global\]$/[global]\nrados osd op timeout = 7\nrados mon op timeout = 7/' "$CEPH_CONF" >"$tmp/ceph7.conf"
start_says "without timeout=, requests time out after 30 s" "request timeout 30 s" "conf=$CEPH_CONF"
start_says "a timeout in the configuration file is kept" "request timeout 7 s" "conf=$tmp/ceph7.conf"
start_says "timeout=0 waits for ever, whatever the file says" "no request timeout" "conf=$tmp/ceph7.conf:timeout=0"
start_says "timeout=x is refused" "timeout=x is not a number of seconds" "conf=$CEPH_CONF:timeout=x"

guest_build_or_fail "$tmp/guest.cpio" "$tmp/guest.sh" \
	--file "$tmp/pattern:/pattern" --file /usr/sbin/blkdiscard:/usr/bin/ul-blkdiscard

"$VBRIDGE" serve --socket "$tmp/vb.sock" --engine rbd --queues 2 --serial rbd-guest \
	--disk "rbd:$CEPH_POOL/$IMAGE:conf=$CEPH_CONF:timeout=$TIMEOUT" >"$vblog" 2>&1 &
vb_pid=$!
if ! check "vbridge starts on rbd:$CEPH_POOL/$IMAGE, holding the exclusive lock, timeout=$TIMEOUT" \
	wait_for "$vblog" "exclusive lock held, request timeout $TIMEOUT s" 60; then
	diag "$vblog"
	tap_done
	exit 1
fi

(
	rc=0
	GUEST_SMP=2 guest_run "$console" 400 -- \
		-chardev socket,id=vu0,path="$tmp/vb.sock" \
		-device vhost-user-blk-pci,chardev=vu0,num-queues=2 2>"$tmp/guest.err" || rc=$?
	echo "$rc" >"$tmp/guest.rc"
) &
guest_job=$!

# take_away NAME AWAY BACK N: once the guest is ready, AWAY takes the OSD away; once the guest saw
# its requests fail, the daemon's log must say so for the Nth time, and BACK brings the OSD back.
take_away() {
	local t
	if ! wait_for "$console" "OUTAGE-READY $1" 300 "$guest_job"; then
		report 1 "the guest reached the outage ($1)"
		return 1
	fi
	$2
	t=$(now_ms)
	wait_for "$console" "OUTAGE-SEEN $1" $((HANG_BOUND * 3)) "$guest_job"
	check "$1: the daemon's log says that requests fail, timed out" \
		test "$(grep -c "requests fail: Connection timed out" "$vblog")" = "$4"
	if ! $3; then
		report 1 "$1: the OSD comes back"
		return 1
	fi
	echo "# the OSD was away ($1) for $((($(now_ms) - t) / 1000)) s"
}
stop_osd() { kill -STOP "$CEPH_OSD_PID"; }
cont_osd() { kill -CONT "$CEPH_OSD_PID"; }
# The outages: the OSD stopped (SIGSTOP) and continued, then killed (SIGKILL) and restarted on its data.
outages=0
take_away stopped stop_osd cont_osd 1 && outages=1 &&
	take_away killed ceph_osd_kill ceph_osd_restart 2 && outages=2
wait "$guest_job"
guest_job=
rc=$(guest_status "$(cat "$tmp/guest.rc" 2>/dev/null || echo 125)" "$console")
bad=0
guest_report "$console" "guest: " || bad=1
guest_ended "$rc" "$bad" "guest: "

if [ "$outages" -gt 0 ]; then
	check "the daemon's log says when requests succeed again, after each outage" \
		test "$(grep -c "requests succeed again" "$vblog")" = "$outages"
fi
# While the daemon still holds the image: what the guest wrote is with the cluster.
if check "rbd export reads the image beside vbridge" \
	rbd --conf "$CEPH_CONF" export --no-progress "$CEPH_POOL/$IMAGE" "$tmp/export.img"; then
	check "the guest's O_DIRECT and flushed writes are in the image" \
		test "$(export_sha 8 4)" = "$(pattern_sha 4)" -a "$(export_sha 16 2)" = "$(pattern_sha 2)"
	check "the discarded and zeroed ranges are zero in the image" \
		test "$(export_sha 20 8)" = "$(zero_sha 8)"
	check "the writes from before and after the outages are in the image" \
		test "$(export_sha 32 4)" = "$(pattern_sha 4)" -a "$(export_sha 36 4)" = "$(pattern_sha 4)" -a \
		"$(dd if="$tmp/export.img" bs=64k skip=$((40 * 16)) count=1 status=none | sha256sum)" = \
		"$(head -c 65536 "$tmp/pattern" | sha256sum)"
fi
kill -TERM "$vb_pid"
vb_rc=0
wait "$vb_pid" || vb_rc=$?
vb_pid=
check "vbridge exits 0 on SIGTERM" test "$vb_rc" -eq 0
if [ "$tap_failed" -ne 0 ]; then
	echo "# guest console:"
	tr -d '\r' <"$console" | grep -av '^ok ' | tail -n 30 | diag
	echo "# daemon log:"
	tail -n 20 "$vblog" | diag
fi
tap_done
