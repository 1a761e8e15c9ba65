#!/bin/bash
# The VDUSE front door in a TCG guest: vbridge serves /dev/vdX through vduse and virtio-vdpa;
# data, multiqueue, discard, read-only, kill -9 and takeover under load, SIGTERM, bad input.
set -uo pipefail

cd "$(dirname "$0")/../.."
# shellcheck source=../lib/guest.sh
. tests/lib/guest.sh
BUILD=${BUILD:-build}
VBRIDGE=$PWD/$BUILD/tests/guest/vbridge

tmp=$(mktemp -d /tmp/vbridge-vduse.XXXXXX)
cleanup() { [ -n "${VBRIDGE_KEEP:-}" ] || rm -rf "$tmp"; }
trap cleanup EXIT

. tests/lib/tap.sh

if [ ! -x "$VBRIDGE" ]; then
	report 1 "static $VBRIDGE is built (make)"
	tap_done
	exit 1
fi

# Runs as the guest's /test.sh (busybox sh): TAP on the console, daemon logs in /tmp/*.log.
cat >"$tmp/guest.sh" <<'GUEST'
n=0
bad=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); bad=1; echo "not ok $n - $1"; }
check() { desc=$1; shift; if "$@"; then ok "$desc"; else nok "$desc"; return 1; fi; }
show() { sed 's/^/# /' "$@"; }
VB=/opt/vbridge
IMG=/tmp/disk.img
SIZE_MB=64
STATE=/tmp/state

# Waits up to $2 seconds for a condition given as a shell string.
wait_for() {
	i=0
	while ! eval "$1"; do
		i=$((i + 1))
		[ $i -le $(($2 * 10)) ] || return 1
		sleep 0.1
	done
}
vdisk() { for d in /sys/block/vd*; do [ -e "$d" ] && basename "$d"; done | head -n 1; }
md5() { md5sum | cut -d' ' -f1; }
# Bytes [$2 MiB, +$3 MiB) of file or device $1.
region() { dd if="$1" bs=1M skip="$2" count="$3" iflag=direct 2>/dev/null | md5; }
region_file() { dd if="$1" bs=1M skip="$2" count="$3" 2>/dev/null | md5; }

# --- bad input before the module is there
rmmod virtio_vdpa; rmmod vduse
$VB serve --vduse vb0 --disk $IMG --size ${SIZE_MB}M --state-dir $STATE >/tmp/nomod.log 2>&1
rc=$?
check "no /dev/vduse/control: refused" [ $rc -ne 0 ]
check "... with a message naming the vduse module" grep -q "vduse kernel module" /tmp/nomod.log
show /tmp/nomod.log
modprobe vduse && modprobe virtio_vdpa
check "vduse and virtio_vdpa loaded again" [ -e /dev/vduse/control ]

$VB serve --vduse vb0 --socket /tmp/vu.sock --disk $IMG --size ${SIZE_MB}M >/tmp/both.log 2>&1
check "--socket with --vduse on one writable disk: refused" grep -q "add --readonly" /tmp/both.log

$VB serve --vduse '' --disk $IMG --size ${SIZE_MB}M --state-dir $STATE >/tmp/refused.log 2>&1
rc=$?
check "a device the kernel refuses (empty name): refused" [ $rc -ne 0 ]
check "... with the kernel's reason" grep -q "kernel refused" /tmp/refused.log
show /tmp/refused.log

# --- a device with 2 queues
dd if=/dev/urandom of=/tmp/pattern bs=1M count=16 2>/dev/null
$VB serve --vduse vb0 --disk $IMG --size ${SIZE_MB}M --queues 2 --state-dir $STATE \
	--log-level debug >/tmp/vb0.log 2>&1 &
pid=$!
if wait_for '[ -n "$(vdisk)" ]' 30; then ok "/dev/vdX appears"; else nok "/dev/vdX appears"; show /tmp/vb0.log; fi
vd=$(vdisk)
echo "# device: $vd"
check "its size is the image's ($SIZE_MB MiB)" [ "$(cat /sys/block/$vd/size)" -eq $((SIZE_MB * 2048)) ]
check "2 hardware queues" [ "$(ls /sys/block/$vd/mq | wc -l)" -eq 2 ]

$VB serve --vduse vb0 --disk $IMG --state-dir $STATE >/tmp/inuse.log 2>&1
rc=$?
check "a second daemon on a name in use: refused" [ $rc -ne 0 ]
check "... saying the name is in use" grep -q "in use" /tmp/inuse.log
show /tmp/inuse.log

# Two writers at once, one per CPU, so that both queues carry requests.
dd if=/tmp/pattern of=/dev/$vd bs=64k count=128 oflag=direct 2>/dev/null &
w1=$!
dd if=/tmp/pattern of=/dev/$vd bs=64k skip=128 seek=128 count=128 oflag=direct 2>/dev/null &
w2=$!
wait $w1 && wait $w2
check "patterned writes complete" [ $? -eq 0 ]
want=$(region_file /tmp/pattern 0 16)
check "read back through /dev/$vd: same checksum" [ "$(region /dev/$vd 0 16)" = "$want" ]
check "the backing image holds the same bytes" [ "$(region_file $IMG 0 16)" = "$want" ] || show /tmp/vb0.log

blkdiscard -o 1048576 -l 2097152 /dev/$vd
check "blkdiscard succeeds" [ $? -eq 0 ]
zero=$(dd if=/dev/zero bs=1M count=2 2>/dev/null | md5)
check "discarded range reads as zeroes" [ "$(region /dev/$vd 1 2)" = "$zero" ]
check "... and is zero in the image" [ "$(region_file $IMG 1 2)" = "$zero" ]
check "the rest is untouched" [ "$(region /dev/$vd 3 13)" = "$(region_file /tmp/pattern 3 13)" ]

# --- kill -9 and take over, idle and under a write load
# The idle takeover brings a daemon that holds every request a second before
# the disk sees it, so that the second kill surely finds one in flight.
kill -9 $pid
wait $pid 2>/dev/null
$VB serve --vduse vb0 --disk $IMG --queues 2 --state-dir $STATE --engine delay:1s >/tmp/vb0slow.log 2>&1 &
pid=$!
check "kill -9 when idle: a new daemon takes the device over" wait_for 'grep -q "taken over" /tmp/vb0slow.log' 30 ||
	show /tmp/vb0slow.log
dd if=/dev/urandom of=/tmp/pattern2 bs=1M count=32 2>/dev/null
dd if=/tmp/pattern2 of=/dev/$vd bs=64k seek=256 oflag=direct 2>/tmp/load.err &
load=$!
writes_in_flight() { [ "$(awk '{ print $2 }' /sys/block/$vd/inflight)" -gt 0 ]; }
check "the writer's requests reach the daemon" wait_for writes_in_flight 30
sleep 0.3
kill -9 $pid
wait $pid 2>/dev/null
$VB serve --vduse vb0 --disk $IMG --queues 2 --state-dir $STATE >/tmp/vb0b.log 2>&1 &
pid=$!
wait $load
rc=$?
check "the writer saw no error across kill -9 and restart" [ $rc -eq 0 ]
show /tmp/load.err
want=$(region_file /tmp/pattern2 0 32)
check "every write landed (read back through /dev/$vd)" [ "$(region /dev/$vd 16 32)" = "$want" ]
check "... and in the image" [ "$(region_file $IMG 16 32)" = "$want" ]
check "the earlier data is intact" [ "$(region /dev/$vd 3 13)" = "$(region_file /tmp/pattern 3 13)" ]
check "kill -9 under load: the new daemon took the device over" grep -q "taken over" /tmp/vb0b.log
check "... and resubmitted what was in flight" grep -q "resubmitted" /tmp/vb0b.log
check "no I/O error in the kernel log" sh -c '! dmesg | grep -qi "i/o error"'
dmesg | grep -i "vd\|vduse\|error" | tail -n 5 | show

# --- SIGTERM
kill -TERM $pid
wait $pid
rc=$?
check "SIGTERM: exit status 0" [ $rc -eq 0 ]
check "/dev/$vd is gone" wait_for '[ -z "$(vdisk)" ]' 10
check "/dev/vduse/vb0 is gone" [ ! -e /dev/vduse/vb0 ]
check "its inflight log is removed" [ ! -e $STATE/vduse-vb0.inflight ]
show /tmp/vb0b.log

# --- read-only, with both front doors: a device each on the same disk
$VB serve --vduse vbro --socket /tmp/vu.sock --disk $IMG --readonly --state-dir $STATE >/tmp/ro.log 2>&1 &
pid=$!
wait_for '[ -n "$(vdisk)" ]' 30
vd=$(vdisk)
check "read-only: the device is read-only" [ "$(cat /sys/block/$vd/ro)" = 1 ]
check "... and the vhost-user socket listens too" wait_for '[ -S /tmp/vu.sock ]' 10
check "... and reads the image" [ "$(region /dev/$vd 3 13)" = "$(region_file /tmp/pattern 3 13)" ]
dd if=/tmp/pattern of=/dev/$vd bs=4k count=1 oflag=direct 2>/dev/null
check "... and a write fails" [ $? -ne 0 ]
kill -TERM $pid
wait $pid
check "... and stops cleanly" [ $? -eq 0 ] || show /tmp/ro.log
check "... removing the socket" [ ! -S /tmp/vu.sock ]

echo "1..$n"
exit $bad
GUEST

if ! guest_build_initramfs "$tmp/guest.cpio" "$tmp/guest.sh" --modules "vduse virtio_vdpa" \
	--file "$VBRIDGE:/opt/vbridge" >"$tmp/mkguest.err" 2>&1; then
	report 1 "guest initramfs built"
	diag "$tmp/mkguest.err"
	tap_done
	exit 1
fi

rc=0
bad=0
# About a minute on an idle host; a loaded one (other guests, other builds) has needed twice that.
guest_run "$tmp/console.log" 240 2>"$tmp/qemu.err" || rc=$?
while read -r line; do
	case "$line" in
	"not ok "*) report 1 "guest: ${line#not ok * - }"; bad=1 ;;
	"ok "*) report 0 "guest: ${line#ok * - }" ;;
	"# "*) echo "$line" ;;
	esac
done < <(guest_tap "$tmp/console.log")
guest_ended "$rc" "$bad"
if [ "$rc" -ne 0 ]; then
	diag "$tmp/qemu.err"
	tr -d '\r' <"$tmp/console.log" | tail -n 40 | diag
fi
tap_done
