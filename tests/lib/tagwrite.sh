# shellcheck shell=bash
# Shared by the guest tests that run tagwrite under a live daemon: paths, the guest script, waits, the final checks.
#
#   BUILD=${BUILD:-build}
#   . tests/lib/guest.sh; . tests/lib/tagwrite.sh
#   tmp=$(mktemp -d ...); cleanup() { ...; remove_tmp; }
#   tagwrite_initramfs "$THREADS" || ...
#   ... run the guest, console in $tmp/guest.log ...
#   tagwrite_result "$tmp/console.txt"; tagwrite_checks "includes ..."
#
# Expects tmp, SEED, WORK_SECONDS and STALL_SECONDS to be set by the test.

VBRIDGE=$PWD/$BUILD/vbridge
TAGWRITE=$PWD/$BUILD/tests/guest/tagwrite
MiB=$((1 << 20))
DISK_MIB=64
REGION_OFFSET=$MiB	 # tagwrite's region: 16 MiB of 4 KiB blocks, manifest right after it
REGION_BLOCKS=4096

# Removes $tmp unless VBRIDGE_KEEP asks to keep it (for a cleanup trap).
remove_tmp() {
	if [ -n "${VBRIDGE_KEEP:-}" ]; then
		echo "# kept $tmp"
	else
		rm -rf "$tmp"
	fi
}

# tagwrite_initramfs THREADS [LINE]: $tmp/guest.cpio, whose guest runs tagwrite on /dev/vda (2 queues)
# after printing LINE; mkguest's errors go to $tmp/mkguest.err.
tagwrite_initramfs() {
	cat >"$tmp/guest.sh" <<EOS
q=\$(ls /sys/block/vda/mq | wc -l)
if [ "\$q" = 2 ]; then echo "ok - blk-mq sees 2 hardware queues"; else echo "not ok - blk-mq sees 2 hardware queues (\$q)"; fi
${2:-}
tagwrite run --dev /dev/vda --offset $REGION_OFFSET --blocks $REGION_BLOCKS --seed $SEED \\
	--seconds $WORK_SECONDS --threads $1 --stall-timeout $STALL_SECONDS --status /tmp/tagwrite.rc &
# A request that never completes keeps tagwrite from exiting: its status file says how it ended.
while [ ! -e /tmp/tagwrite.rc ]; do sleep 1; done
exit "\$(cat /tmp/tagwrite.rc)"
EOS
	guest_build_initramfs "$tmp/guest.cpio" "$tmp/guest.sh" --file "$TAGWRITE" >"$tmp/mkguest.err" 2>&1
}

# wait_for FILE PATTERN SECONDS [JOB]: polls until FILE has a line matching PATTERN; gives up
# early when JOB (a guest_run subshell) has ended.
wait_for() {
	local deadline=$(($(now_ms) + $3 * 1000))
	while [ "$(now_ms)" -lt "$deadline" ]; do
		grep -aq -- "$2" "$1" 2>/dev/null && return 0
		[ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null && return 1
		sleep 0.05
	done
	return 1
}

# guest_status RC CONSOLE: the guest's exit status; when guest_run was stopped (143) or QEMU
# ended first (125), the exit line may still be on the console.
guest_status() {
	local st=
	if [ "$1" -eq 125 ] || [ "$1" -eq 143 ]; then
		st=$(tr -d '\r' <"$2" 2>/dev/null | sed -n 's/.*VBRIDGE-GUEST-EXIT \([0-9]*\).*/\1/p' | tail -n 1)
	fi
	echo "${st:-$1}"
}

# tagwrite_result TEXT: result and status from the last TAGWRITE-RESULT line of the console TEXT.
tagwrite_result() {
	result=$(grep -a '^TAGWRITE-RESULT ' "$1" | tail -n 1)
	status=$(field status)
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$result"; }

# tagwrite_checks NOTE: the workload's own verdicts, and the image against its manifest. NOTE
# says what the longest write includes.
tagwrite_checks() {
	local manifest rc
	check "guest: the workload ran (writes: $(field writes), verifications: $(field verifies))" \
		test -n "$result" -a "$(field writes)" != 0 -a "$(field verifies)" != 0
	check "guest: no I/O error" test -n "$result" -a "$(field ioerrors)" = 0
	check "guest: every read-back verification passed" test -n "$result" -a "$(field verifyfail)" = 0
	check "guest: no I/O stalled (pending over ${STALL_SECONDS} s)" test -n "$result" -a "$status" != stalled
	[ -z "$result" ] || echo "# longest guest write: $(field max_write_ms) ms ($1)"
	manifest=$(field manifest)
	if [ "$status" = ok ] && [ -n "$manifest" ] && [ "$manifest" != none ]; then
		"$TAGWRITE" check --dev "$img" --offset "$REGION_OFFSET" --blocks "$REGION_BLOCKS" --seed "$SEED" \
			--hash "$manifest" >"$tmp/check.out" 2>&1
		rc=$?
		diag "$tmp/check.out"
		report "$rc" "image matches the guest's manifest block by block ($(field written) blocks written)"
	else
		report 1 "image matches the guest's manifest block by block (no manifest: the workload failed)"
	fi
}
