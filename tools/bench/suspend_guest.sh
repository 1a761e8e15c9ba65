#!/bin/bash
# The guest rows of `make bench-suspend`: vbridge-suspend-bench, built static, in a TCG guest on a
# dm-delay device over a RAM disk (every read and write completes after the latency), with
# --engine kabort (the vbabort module) and --engine uring as the control. Prints the rows
# (vbridge-suspend-bench --rows) and a "note:" line saying what they are, for --add-rows.
#
# Usage: tools/bench/suspend_guest.sh [--slow MS:RUNS]...
#   default --slow 100:20 --slow 1000:5 (fewer samples than on the host: under TCG a sample takes
#   several times as long); BUILD and VBRIDGE_CACHE as for the tests.
set -euo pipefail

cd "$(dirname "$0")/../.."
. tests/lib/guest.sh
BUILD=${BUILD:-build}
WHERE="dm-delay, guest (TCG)"

usage() {
	sed -n 's/^# \{0,1\}//; 7,9p' "$0" >&2
	exit 2
}
slows=()
while [ $# -gt 0 ]; do
	case $1 in
	--slow)
		[[ ${2-} =~ ^[0-9]+:[0-9]+$ ]] || { echo "suspend_guest: --slow ${2-}: expected MS:RUNS" >&2; usage; }
		slows+=("$2")
		shift 2
		;;
	*) usage ;;
	esac
done
[ ${#slows[@]} -gt 0 ] || slows=(100:20 1000:5)

for f in "$BUILD/tests/guest/vbridge" "$BUILD/tests/guest/vbridge-suspend-bench"; do
	[ -x "$f" ] || { echo "suspend_guest: $f is not built (make)" >&2; exit 1; }
done
[ -f vbabort.ko ] || { echo "suspend_guest: vbabort.ko is not built (make modules)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/vbridge-suspend-guest.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# One dm device, its table reloaded for each latency; a 64 MiB RAM disk under it.
cat >"$tmp/guest.sh" <<GUEST
SLOWS="${slows[*]}"
WHERE="$WHERE"
GUEST
cat >>"$tmp/guest.sh" <<'GUEST'
export DM_DISABLE_UDEV=1
rmmod brd
modprobe brd rd_nr=1 rd_size=65536 || exit 1
table() { echo "0 $(cat /sys/block/ram0/size) delay /dev/ram0 0 $1"; }
status=0
for slow in $SLOWS; do
	ms=${slow%%:*}
	if [ -e /dev/dm-0 ]; then
		table "$ms" | dmsetup reload slow && dmsetup resume --noudevsync slow || exit 1
	else
		table "$ms" | dmsetup create --noudevsync slow || exit 1
	fi
	for engine in kabort uring; do
		BUILD=/opt /opt/vbridge-suspend-bench --disk /dev/dm-0 --slow "$slow" --engine $engine \
			--where "$WHERE" --rows || status=1
	done
done
exit $status
GUEST

guest_build_initramfs "$tmp/guest.cpio" "$tmp/guest.sh" --modules "brd dm-delay $PWD/vbabort.ko" \
	--file "$BUILD/tests/guest/vbridge:/opt/vbridge" \
	--file "$BUILD/tests/guest/vbridge-suspend-bench:/opt/vbridge-suspend-bench" \
	--file /usr/sbin/dmsetup >"$tmp/mkguest.err" 2>&1 ||
	{ cat "$tmp/mkguest.err" >&2; exit 1; }
load() { awk '{ print $1 " (1 min), " $2 " (5 min)" }' /proc/loadavg; }
load0=$(load)
rc=0
guest_run "$tmp/console.log" 1800 || rc=$?
if [ "$rc" -ne 0 ]; then
	tr -d '\r' <"$tmp/console.log" | tail -n 30 >&2
	exit 1
fi
echo "note: \`\`$WHERE\`\`, \`\`kabort\`\` and \`\`uring\`\`: the same bench, built static, in a QEMU TCG guest (2 emulated vCPUs, \`\`tools/bench/suspend_guest.sh\`\`) on a dm-delay device over a RAM disk (\`\`brd\`\`) that completes every read and write after the storage latency, with \`\`--engine kabort\`\` (the vbabort module, \`\`vbabort.rst\`\`) and, as the control, \`\`--engine uring\`\`. TCG emulates every instruction, so the absolute times are many times the host's: compare the ratio of each row, draining against suspending in the same guest. Host load average $load0 at the start, $(load) at the end."
tr -d '\r' <"$tmp/console.log" | grep -F "$WHERE  "
