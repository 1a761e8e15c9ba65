#!/bin/bash
# The VDUSE front door driven through vhost-vdpa by a minimal VMM (tests/guest/tools/vdpa_driver.c):
# read-only IOTLB entries, an IOTLB update with requests held, GET_VQ_STATE with a request in flight.
set -uo pipefail

cd "$(dirname "$0")/../.."
# shellcheck source=../lib/guest.sh
. tests/lib/guest.sh
BUILD=${BUILD:-build}
VBRIDGE=$PWD/$BUILD/tests/guest/vbridge
DRIVER=$PWD/$BUILD/tests/guest/vdpa_driver

tmp=$(mktemp -d /tmp/vbridge-vdpa.XXXXXX)
cleanup() { [ -n "${VBRIDGE_KEEP:-}" ] || rm -rf "$tmp"; }
trap cleanup EXIT

. tests/lib/tap.sh

if [ ! -x "$VBRIDGE" ] || [ ! -x "$DRIVER" ]; then
	report 1 "static $VBRIDGE and $DRIVER are built (make)"
	tap_done
	exit 1
fi

# Runs as the guest's /test.sh (busybox sh): unnumbered results for guest_report on the console.
cat >"$tmp/guest.sh" <<'GUEST'
bad=0
ok() { echo "ok - $1"; }
nok() { bad=1; echo "not ok - $1"; }
check() { desc=$1; shift; if "$@"; then ok "$desc"; else nok "$desc"; return 1; fi; }
show() { sed 's/^/# /' "$@"; }
IMG=/tmp/disk.img
DELAY_MS=2000

dd if=/dev/urandom of=/tmp/pattern bs=4k count=1 2>/dev/null
dd if=/dev/zero of=$IMG bs=1M count=16 2>/dev/null
dd if=/tmp/pattern of=$IMG conv=notrunc 2>/dev/null
/opt/vbridge serve --vduse vbh --disk $IMG --engine delay:${DELAY_MS}ms --state-dir /tmp/state \
	--log-level debug >/tmp/vb.log 2>&1 &
pid=$!
i=0
while [ ! -e /dev/vhost-vdpa-0 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
check "the device appears as /dev/vhost-vdpa-0" [ -e /dev/vhost-vdpa-0 ] || show /tmp/vb.log
/opt/vdpa_driver /dev/vhost-vdpa-0 /tmp/pattern $DELAY_MS >/tmp/driver.out 2>&1
rc=$?
while read -r word rest; do
	case "$word" in
	PASS) ok "$rest" ;;
	FAIL) nok "$rest" ;;
	"#") echo "# $rest" ;;
	esac
done </tmp/driver.out
check "the driver ran to the end (status $rc)" [ $rc -ne 2 ]
check "the daemon is still alive" kill -0 $pid
kill -TERM $pid
wait $pid
check "SIGTERM: exit status 0" [ $? -eq 0 ]
[ $bad -eq 0 ] || show /tmp/vb.log
exit $bad
GUEST

guest_build_or_fail "$tmp/guest.cpio" "$tmp/guest.sh" --modules "vduse vhost_vdpa" \
	--file "$VBRIDGE:/opt/vbridge" --file "$DRIVER:/opt/vdpa_driver"

rc=0
guest_run "$tmp/console.log" 240 2>"$tmp/qemu.err" || rc=$?
guest_report "$tmp/console.log" "guest: "
guest_tap "$tmp/console.log" | grep '^# '
report "$rc" "the guest's test script ran to the end and passed (status $rc)"
[ "$rc" -eq 0 ] || diag "$tmp/qemu.err"
tap_done
