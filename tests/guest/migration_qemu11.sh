#!/bin/bash
# Live migration on QEMU 11 with storage that takes 3 s per request: draining (the control) and
# with inflight-migration=on, where the source suspends its rings, QEMU carries the inflight
# region to the destination and vbridge there resubmits; and to qemu-storage-daemon.
# Each run is tests/guest/migration.sh
# (tagwrite load, block-by-block manifest check); then the downtimes are compared: the one with
# inflight migration must be at most half the drained one, measured in the same test.
#
# Settings (environment): VBRIDGE_MIGRATION_DELAY (the delay engine's per-request time,
# default 3000ms), and those of migration.sh.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh

tmp=$(mktemp -d /tmp/vbridge-migration11.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

if ! tools/qemu11 --version >"$tmp/version" 2>&1; then
	diag "$tmp/version"
	report 1 "QEMU 11 is set up (tools/qemu11 setup; make deps does it)"
	tap_done
	exit
fi
echo "# $(head -n 1 "$tmp/version")"
export GUEST_QEMU=$PWD/tools/qemu11
export VBRIDGE_DAEMON_ARGS="--engine delay:${VBRIDGE_MIGRATION_DELAY:-3000ms}"
# QEMU's own bandwidth and, at switch-over, the RAM still dirty are left out of the way: the
# downtime is then the devices' stop and start, which is what the two modes change.
export VBRIDGE_MIGRATION_PARAMS='{"downtime-limit": 300}'
# Long enough that the guest is still running on the destination when the test asks.
export VBRIDGE_WORK_SECONDS=${VBRIDGE_WORK_SECONDS:-45}

declare -A downtime
# run MODE INFLIGHT(0/1) [VAR=VALUE...]: one migration.sh run, its checks prefixed with MODE.
run() {
	local mode=$1 inflight=$2 rc=0
	shift 2
	env "$@" VBRIDGE_INFLIGHT_MIGRATION="$inflight" VBRIDGE_MIGRATION_RESULT="$tmp/$mode.result" \
		tests/guest/migration.sh >"$tmp/$mode.tap" 2>"$tmp/$mode.err" || rc=$?
	tap_include "$mode: " "$tmp/$mode.tap" "$rc"
	[ ! -s "$tmp/$mode.err" ] || tail -n 20 "$tmp/$mode.err" | diag
	read -r "downtime[$mode]" _ <"$tmp/$mode.result" 2>/dev/null || downtime[$mode]=
}
run drain 0
run inflight 1
# Another back-end on the destination (qemu-storage-daemon: no INFLIGHT_SHMFD, no bit 20),
# draining. The other way round is not run: qemu-storage-daemon does not wait for its requests at
# GET_VRING_BASE, so one in flight at the switch-over is lost (Documentation/migration.rst).
run to-qsd 0 VBRIDGE_B_PEER=qsd

d=${downtime[drain]:-} i=${downtime[inflight]:-}
echo "# downtime: draining ${d:-?} ms, inflight migration ${i:-?} ms"
check "inflight migration's downtime is at most half of draining's (${i:-?} ms against ${d:-?} ms)" \
	test -n "$d" -a -n "$i" -a "$((2 * ${i:-0}))" -le "${d:-0}"
tap_done
