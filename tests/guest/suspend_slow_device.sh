#!/bin/bash
# Ring suspension against real host I/O: in a TCG guest, vbridge serves a null_blk device whose
# every request completes after a second; reads with the device are abandoned (their late data
# never reaches guest memory), writes are waited for, and a second daemon finishes the job.
set -uo pipefail

cd "$(dirname "$0")/../.."
# shellcheck source=../lib/guest.sh
. tests/lib/guest.sh
BUILD=${BUILD:-build}
VBRIDGE=$PWD/$BUILD/tests/guest/vbridge
DRIVER=$PWD/$BUILD/tests/guest/suspend_slowdev
LATENCY_MS=1000

tmp=$(mktemp -d /tmp/vbridge-slowdev.XXXXXX)
cleanup() { [ -n "${VBRIDGE_KEEP:-}" ] || rm -rf "$tmp"; }
trap cleanup EXIT

. tests/lib/tap.sh

if [ ! -x "$VBRIDGE" ] || [ ! -x "$DRIVER" ]; then
	report 1 "static $VBRIDGE and $DRIVER are built (make)"
	tap_done
	exit 1
fi

# null_blk through configfs: memory-backed, every request completed by a timer LATENCY_MS later.
cat >"$tmp/guest.sh" <<GUEST
set -e
mkdir /sys/kernel/config/nullb/slow
cd /sys/kernel/config/nullb/slow
echo 64 >size
echo 4096 >blocksize
echo 1 >memory_backed
echo 2 >irqmode
echo $((LATENCY_MS * 1000000)) >completion_nsec
echo 1 >power
cd /
# Newer kernels name the disk after the configfs item, older ones nullb<index>.
dev=/dev/slow
[ -b \$dev ] || dev=/dev/nullb\$(cat /sys/kernel/config/nullb/slow/index)
echo "# slow device: \$dev, \$(ls /sys/block | tr '\n' ' ')"

set +e
BUILD=/opt /opt/suspend_slowdev --device \$dev --latency-ms $LATENCY_MS
GUEST
if ! guest_build_initramfs "$tmp/guest.cpio" "$tmp/guest.sh" --modules null_blk \
	--file "$VBRIDGE:/opt/vbridge" --file "$DRIVER:/opt/suspend_slowdev" >"$tmp/mkguest.err" 2>&1; then
	report 1 "guest initramfs built"
	diag "$tmp/mkguest.err"
	tap_done
	exit 1
fi

rc=0
guest_run "$tmp/console.log" 180 2>"$tmp/qemu.err" || rc=$?
bad=0
while read -r line; do
	case "$line" in
	"not ok "*) report 1 "guest: ${line#not ok * - }"; bad=1 ;;
	"ok "*) report 0 "guest: ${line#ok * - }" ;;
	"# "*) echo "$line" ;;
	esac
done < <(guest_tap "$tmp/console.log")
report "$rc" "the guest's test program ran to the end and passed (status $rc)"
if [ "$rc" -ne 0 ] || [ "$bad" -ne 0 ]; then
	diag "$tmp/qemu.err"
	tr -d '\r' <"$tmp/console.log" | tail -n 40 | diag
fi
tap_done
