#!/bin/bash
# Live migration on QEMU 11 with storage that takes 3 s per request: draining (the control) and
# with inflight-migration=on, where the source suspends its rings, QEMU carries the inflight
# region to the destination and vbridge there resubmits; and to and from qemu-storage-daemon.
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

# shellcheck source=../lib/migration_runs.sh
. tests/lib/migration_runs.sh
use_qemu11 || exit
export VBRIDGE_DAEMON_ARGS="--engine delay:${VBRIDGE_MIGRATION_DELAY:-3000ms}"
# QEMU's own bandwidth and, at switch-over, the RAM still dirty are left out of the way: the
# downtime is then the devices' stop and start, which is what the two modes change.
export VBRIDGE_MIGRATION_PARAMS='{"downtime-limit": 300}'
# Long enough that the guest is still running on the destination when the test asks.
export VBRIDGE_WORK_SECONDS=${VBRIDGE_WORK_SECONDS:-45}

migration_run drain 0
migration_run inflight 1
# Another back-end on the destination (qemu-storage-daemon: no INFLIGHT_SHMFD, no bit 20),
# draining.
migration_run to-qsd 0 VBRIDGE_B_PEER=qsd
# From qemu-storage-daemon to vbridge, inflight-migration=on as a user would leave it: QEMU falls
# back to draining. qemu-storage-daemon does not wait for its requests at GET_VRING_BASE (one in
# flight then is lost), so the guest stops its writes before the migration and checks them after
# it through vbridge; no delay engine, which would slow that check down.
migration_run from-qsd 1 VBRIDGE_A_PEER=qsd VBRIDGE_QUIESCE=1 VBRIDGE_DAEMON_ARGS= VBRIDGE_WORK_SECONDS=3

downtime_ratio_check 2 half
tap_done
