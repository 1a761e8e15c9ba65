#!/bin/bash
# Ring suspension against real host I/O: in a TCG guest, vbridge serves a dm-delay device (over a
# RAM disk) whose every request completes after a second; reads with the device are abandoned (their late data
# never reaches guest memory), writes are waited for, and a second daemon finishes the job.
# A second RAM disk, which completes each request inside the call that submits it, has
# requests done at the moment of suspension. Once with the io_uring engine, once with
# --engine kabort (the vbabort module); with kabort also a daemon SIGKILLed with writes at the
# device, whose successor starts at once and whose resubmitted writes the module holds back.
set -uo pipefail

cd "$(dirname "$0")/../.."
# shellcheck source=../lib/guest.sh
. tests/lib/guest.sh
BUILD=${BUILD:-build}
VBRIDGE=$PWD/$BUILD/tests/guest/vbridge
DRIVER=$PWD/$BUILD/tests/guest/suspend_slowdev
KO=$PWD/vbabort.ko
LATENCY_MS=1000
ENGINES="uring kabort"

tmp=$(mktemp -d /tmp/vbridge-slowdev.XXXXXX)
cleanup() { [ -n "${VBRIDGE_KEEP:-}" ] || rm -rf "$tmp"; }
trap cleanup EXIT

. tests/lib/tap.sh

if [ ! -x "$VBRIDGE" ] || [ ! -x "$DRIVER" ] || [ ! -f "$KO" ]; then
	report 1 "static $VBRIDGE and $DRIVER, and $KO are built (make all modules)"
	tap_done
	exit 1
fi

# dm-delay over a 64 MiB brd RAM disk: every read and write waits LATENCY_MS.
cat >"$tmp/guest.sh" <<GUEST
set -e
rmmod brd
modprobe brd rd_nr=2 rd_size=65536
echo "0 \$(cat /sys/block/ram0/size) delay /dev/ram0 0 $LATENCY_MS" |
	DM_DISABLE_UDEV=1 dmsetup create --noudevsync slow
dev=/dev/dm-0
echo "# slow device: \$dev (\$(cat /sys/block/dm-0/dm/name), $LATENCY_MS ms)"

set +e
status=0
for engine in $ENGINES; do
	echo "# engine \$engine"
	BUILD=/opt /opt/suspend_slowdev --device \$dev --latency-ms $LATENCY_MS --fast-device /dev/ram1 --engine \$engine ||
		status=1
done
# The suspend bench's pattern on kabort: a ring drained and suspended in turn, one request and
# then 16 at a time, restarted after each stop. It caught a lost completion wake-up that the
# checks above, which stop each ring once, did not.
echo "# engine kabort"
if BUILD=/opt /opt/vbridge-suspend-bench --disk \$dev --slow $LATENCY_MS:2 --engine kabort \
	--depths 1,16 --read-seconds 0 --rows >/tmp/bench.out 2>&1; then
	echo "ok 1 - drained and suspended in turn, restarted after each stop (suspend bench)"
else
	echo "not ok 1 - drained and suspended in turn, restarted after each stop (suspend bench)"
	sed 's/^/# /' /tmp/bench.out
	status=1
fi
exit \$status
GUEST
if ! guest_build_initramfs "$tmp/guest.cpio" "$tmp/guest.sh" --modules "brd dm-delay $KO" \
	--file "$VBRIDGE:/opt/vbridge" --file "$DRIVER:/opt/suspend_slowdev" \
	--file "$PWD/$BUILD/tests/guest/vbridge-suspend-bench:/opt/vbridge-suspend-bench" \
	--file /usr/sbin/dmsetup >"$tmp/mkguest.err" 2>&1; then
	report 1 "guest initramfs built"
	diag "$tmp/mkguest.err"
	tap_done
	exit 1
fi

rc=0
guest_run "$tmp/console.log" 180 2>"$tmp/qemu.err" || rc=$?
bad=0
engine=?
while read -r line; do
	case "$line" in
	"not ok "*) report 1 "$engine: ${line#not ok * - }"; bad=1 ;;
	"ok "*) report 0 "$engine: ${line#ok * - }" ;;
	"# engine "*) engine=${line#\# engine } ;;
	"# "*) echo "$line" ;;
	esac
done < <(guest_tap "$tmp/console.log")
guest_ended "$rc" "$bad"
if [ "$rc" -ne 0 ] || [ "$bad" -ne 0 ]; then
	diag "$tmp/qemu.err"
	tr -d '\r' <"$tmp/console.log" | tail -n 40 | diag
fi
tap_done
