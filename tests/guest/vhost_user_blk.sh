#!/bin/bash
# Boots TCG Linux guests from vbridge over vhost-user (QEMU 10): data both ways, 1/2/4 queues,
# flush and cache mode, discard, write-zeroes, read-only, and a daemon restart under reconnect-ms.
set -uo pipefail

cd "$(dirname "$0")/../.."
# shellcheck source=../lib/guest.sh
. tests/lib/guest.sh
BUILD=${BUILD:-build}
VBRIDGE=$PWD/$BUILD/vbridge
MiB=$((1 << 20))
DISK_MIB=64

tmp=$(mktemp -d /tmp/vbridge-guest.XXXXXX)
vb_pid=
cleanup() {
	[ -n "$vb_pid" ] && kill -KILL "$vb_pid" 2>/dev/null
	[ -n "${VBRIDGE_KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

. tests/lib/tap.sh

sock=$tmp/vb.sock
img=$tmp/disk.img

# start_vbridge PHASE [vbridge options]: the daemon's log goes to $vblog.
start_vbridge() {
	vblog=$tmp/vbridge-$1.log
	shift
	"$VBRIDGE" serve --socket "$sock" --disk "$img" --log-level debug "$@" >>"$vblog" 2>&1 &
	vb_pid=$!
	for _ in $(seq 100); do
		[ -S "$sock" ] && return 0
		kill -0 "$vb_pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "# vbridge did not start:"
	diag "$vblog"
	return 1
}

stop_vbridge() { # DESCRIPTION
	local rc=0
	kill -TERM "$vb_pid"
	wait "$vb_pid" || rc=$?
	vb_pid=
	check "$1: vbridge exits 0 on SIGTERM and removes its socket" test "$rc" -eq 0 -a ! -e "$sock"
}

# Region of the image as a sha256.
host_sha() { # OFFSET_MIB COUNT_MIB
	dd if="$img" bs=1M skip="$1" count="$2" status=none | sha256sum | cut -d' ' -f1
}
zero_sha() { # COUNT_MIB
	head -c $(($1 * MiB)) /dev/zero | sha256sum | cut -d' ' -f1
}

# The guest prints "ok - ..." lines; they are numbered into this script's TAP.
GUEST_PRELUDE='
check() { d=$1; shift; if "$@"; then echo "ok - $d"; else echo "not ok - $d"; bad=1; return 1; fi; }
rsha() { dd if=/dev/vda bs=1M skip=$1 count=$2 iflag=direct 2>/dev/null | sha256sum | cut -d" " -f1; }
'

# launch_guest NAME SMP GUEST_SCRIPT_BODY [QEMU device options]: boots the guest, status in NAME.rc.
launch_guest() {
	local name=$1 smp=$2 body=$3 devopts=${4:-,num-queues=1}
	printf '%s\n%s\nexit "${bad:-0}"\n' "$GUEST_PRELUDE" "$body" >"$tmp/$name.sh"
	if ! guest_build_initramfs "$tmp/$name.cpio" "$tmp/$name.sh" \
		--file "$tmp/pattern:/pattern" --file /usr/sbin/blkdiscard:/usr/bin/ul-blkdiscard \
		>"$tmp/$name.err" 2>&1; then
		echo "mkguest failed" >>"$tmp/$name.err"
		echo 125 >"$tmp/$name.rc"
		return
	fi
	local rc=0
	# More MTTCG vCPU threads than host cores starve guest timers: round-robin them instead.
	local accel=tcg
	[ "$smp" -le "$(nproc)" ] || accel=tcg,thread=single
	GUEST_ACCEL=$accel GUEST_SMP=$smp guest_run "$tmp/$name.log" 240 -- \
		-chardev socket,id=vu0,path="$sock"${CHARDEV_OPTS:-} \
		-device vhost-user-blk-pci,chardev=vu0"$devopts" 2>>"$tmp/$name.err" || rc=$?
	echo "$rc" >"$tmp/$name.rc"
}

# collect_guest NAME: numbers the guest's results into this script's TAP.
collect_guest() {
	local name=$1 rc bad=0
	rc=$(cat "$tmp/$name.rc")
	guest_report "$tmp/$name.log" "$name: guest: " || bad=1
	guest_ended "$rc" "$bad" "$name: "
	if [ "$rc" -ne 0 ] || [ "$bad" -ne 0 ]; then
		diag "$tmp/$name.err"
		tr -d '\r' <"$tmp/$name.log" | tail -n 30 | diag
		tail -n 30 "$vblog" | diag
	fi
}

run_guest() {
	launch_guest "$@"
	collect_guest "$1"
}

head -c $((4 * MiB)) /dev/urandom >"$tmp/pattern"
pattern_sha=$(sha256sum <"$tmp/pattern" | cut -d' ' -f1)

# --- one queue: data both ways, flush, cache mode, serial, discard, write-zeroes
truncate -s $((DISK_MIB * MiB)) "$img"
dd if=/dev/urandom of="$img" bs=1M seek=1 count=4 conv=notrunc status=none
host_a=$(host_sha 1 4)
dd if=/dev/urandom of="$img" bs=1M seek=20 count=8 conv=notrunc status=none
start_vbridge basic --serial vbridge-test || exit 1
run_guest basic 2 "
check 'capacity is $((DISK_MIB * 2048)) sectors' [ \"\$(cat /sys/block/vda/size)\" = $((DISK_MIB * 2048)) ]
check 'serial number from GET_ID' [ \"\$(cat /sys/block/vda/serial)\" = vbridge-test ]
check 'pattern written on the host reads back with O_DIRECT' [ \"\$(rsha 1 4)\" = $host_a ]
check 'O_DIRECT write of a 4 MiB pattern with fsync' dd if=/pattern of=/dev/vda bs=1M seek=8 oflag=direct conv=fsync 2>/dev/null
check 'the pattern reads back in the guest' [ \"\$(rsha 8 4)\" = $pattern_sha ]
check 'switch to writethrough' sh -c 'echo \"write through\" > /sys/block/vda/cache_type'
check 'O_DIRECT write in writethrough mode' dd if=/pattern of=/dev/vda bs=1M seek=12 count=2 oflag=direct 2>/dev/null
check 'switch back to writeback' sh -c 'echo \"write back\" > /sys/block/vda/cache_type'
check 'buffered write and sync (flush)' sh -c 'dd if=/pattern of=/dev/vda bs=1M seek=16 count=2 2>/dev/null && sync'
check 'blkdiscard of 4 MiB' blkdiscard -o $((20 * MiB)) -l $((4 * MiB)) /dev/vda
check 'discarded range reads as zeroes' [ \"\$(rsha 20 4)\" = $(zero_sha 4) ]
check 'blkdiscard -z (write zeroes) of 4 MiB' ul-blkdiscard -z -o $((24 * MiB)) -l $((4 * MiB)) /dev/vda
check 'zeroed range reads as zeroes' [ \"\$(rsha 24 4)\" = $(zero_sha 4) ]
check 'read at the last sector' dd if=/dev/vda of=/dev/null bs=512 skip=$((DISK_MIB * 2048 - 1)) count=1 iflag=direct 2>/dev/null
"
check "basic: guest's O_DIRECT write is on the host image" test "$(host_sha 8 4)" = "$pattern_sha"
check "basic: writethrough write is on the host image" test "$(host_sha 12 2)" = "$(head -c $((2 * MiB)) "$tmp/pattern" | sha256sum | cut -d' ' -f1)"
check "basic: flushed buffered write is on the host image" test "$(host_sha 16 2)" = "$(head -c $((2 * MiB)) "$tmp/pattern" | sha256sum | cut -d' ' -f1)"
check "basic: discarded and zeroed ranges are zero on the host" test "$(host_sha 20 8)" = "$(zero_sha 8)"
check "basic: the guest switched the cache mode through SET_CONFIG" grep -q "cache mode set to writethrough" "$vblog"
stop_vbridge basic

# --- 2 and 4 queues: parallel writers on every vCPU
for q in 2 4; do
	start_vbridge "queues$q" --queues "$q" || exit 1
	body="pids=''
for i in \$(seq 0 $((q - 1))); do
	taskset -c \$i dd if=/pattern of=/dev/vda bs=256k seek=\$((i * 16 + 128)) count=16 oflag=direct 2>/dev/null &
	pids=\"\$pids \$!\"
done
ok=0; for p in \$pids; do wait \$p || ok=1; done
check '$q parallel O_DIRECT writers' [ \$ok = 0 ]
for i in \$(seq 0 $((q - 1))); do
	check \"writer \$i data reads back\" [ \"\$(dd if=/dev/vda bs=256k skip=\$((i * 16 + 128)) count=16 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)\" = $(head -c $((4 * MiB)) "$tmp/pattern" | sha256sum | cut -d' ' -f1) ]
done
check 'blk-mq sees $q hardware queues' [ \$(ls /sys/block/vda/mq | wc -l) = $q ]
"
	run_guest "queues$q" "$q" "$body" ",num-queues=$q"
	started=$(grep -c "queue [0-9]* started" "$vblog")
	check "queues$q: vbridge started $q queue threads" test "$started" -ge "$q"
	stop_vbridge "queues$q"
done

# --- packed rings, 2 queues
start_vbridge packed --queues 2 || exit 1
run_guest packed 2 "
check 'O_DIRECT write of a 4 MiB pattern on a packed ring' dd if=/pattern of=/dev/vda bs=1M seek=32 count=4 oflag=direct conv=fsync 2>/dev/null
check 'the pattern reads back' [ \"\$(rsha 32 4)\" = $pattern_sha ]
pids=''
for i in 0 1; do
	taskset -c \$i dd if=/pattern of=/dev/vda bs=4k seek=\$((9216 + i * 1024)) count=1024 oflag=direct 2>/dev/null &
	pids=\"\$pids \$!\"
done
ok=0; for p in \$pids; do wait \$p || ok=1; done
check 'two parallel O_DIRECT writers in 4 KiB requests' [ \$ok = 0 ]
check 'their data reads back' [ \"\$(rsha 36 4)\" = $pattern_sha -a \"\$(rsha 40 4)\" = $pattern_sha ]
check 'blkdiscard on a packed ring' blkdiscard -o $((44 * MiB)) -l $((1 * MiB)) /dev/vda
" ",num-queues=2,packed=on"
check "packed: vbridge ran packed rings" grep -q "(packed)" "$vblog"
check "packed: the guest's writes are on the host image" test "$(host_sha 32 4)" = "$pattern_sha" -a "$(host_sha 36 4)" = "$pattern_sha" -a "$(host_sha 40 4)" = "$pattern_sha"
stop_vbridge packed

# --- read-only
before=$(host_sha 0 $DISK_MIB)
start_vbridge readonly --readonly || exit 1
run_guest readonly 2 "
check 'device is read-only' [ \"\$(cat /sys/block/vda/ro)\" = 1 ]
check 'reads work' [ \"\$(rsha 8 4)\" = $pattern_sha ]
check 'O_DIRECT write fails' sh -c '! dd if=/pattern of=/dev/vda bs=1M seek=30 count=1 oflag=direct 2>/dev/null'
"
check "readonly: image unchanged" test "$(host_sha 0 $DISK_MIB)" = "$before"
stop_vbridge readonly

# --- daemon restart between two workloads, QEMU reconnecting by itself
start_vbridge reconnect1 || exit 1
CHARDEV_OPTS=",reconnect-ms=200" launch_guest reconnect 2 "
check 'first workload: O_DIRECT write' dd if=/pattern of=/dev/vda bs=1M seek=52 count=4 oflag=direct 2>/dev/null
check 'first workload: read-back' [ \"\$(rsha 52 4)\" = $pattern_sha ]
echo PHASE1-DONE
# The host restarts vbridge now; I/O issued meanwhile waits in the ring.
sleep 3
check 'second workload after the restart: earlier data intact' [ \"\$(rsha 52 4)\" = $pattern_sha ]
check 'second workload: new O_DIRECT write' dd if=/pattern of=/dev/vda bs=1M seek=56 count=4 oflag=direct conv=fsync 2>/dev/null
check 'second workload: new data reads back' [ \"\$(rsha 56 4)\" = $pattern_sha ]
" &
guest_job=$!
for _ in $(seq 600); do
	grep -q PHASE1-DONE "$tmp/reconnect.log" 2>/dev/null && break
	sleep 0.1
done
stop_vbridge "reconnect: first daemon"
start_vbridge reconnect2 || exit 1
wait "$guest_job"
collect_guest reconnect
check "reconnect: QEMU reconnected to the new daemon" grep -q "front-end connected" "$vblog"
check "reconnect: both workloads are on the host image" test "$(host_sha 52 4)" = "$pattern_sha" -a "$(host_sha 56 4)" = "$pattern_sha"
stop_vbridge "reconnect: second daemon"

tap_done
